package blob_test

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts the kernel's writeback of a range of f, as amlid's
// data store does behind each write: the limits use the same technique.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
