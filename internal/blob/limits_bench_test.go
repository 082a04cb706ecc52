package blob_test

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/tlsca"
)

// BenchmarkMachineLimits measures what this machine can do with the blob
// benchmark's shape (BENCH_LARGE_MIB in 8 MiB pieces, 4 at a time), to put
// amlid's large-transfer figures next to their limits:
//
//   - raw TLS over loopback (the same CA and TLS settings as amlid, no HTTP,
//     no storage): MB/s each way;
//
//   - a raw disk write of the same size into a temporary directory (the
//     filesystem amlid keeps blobs on), 4 writers at their offsets, then
//     fsync: MB/s.
//
//     go test ./internal/blob/ -run '^$' -bench MachineLimits -benchtime 1x
func BenchmarkMachineLimits(b *testing.B) {
	mib := envInt("BENCH_LARGE_MIB", 512)
	rounds := envInt("BENCH_ROUNDS", 3)
	size := int64(mib) << 20
	const piece = 8 << 20
	ca, err := tlsca.LoadOrCreate(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ca.TLSConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	// The server reads a request (direction byte + length), then either
	// drains that many bytes (upload) or sends them (download), and acks.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 256<<10)
				var hdr [9]byte
				for {
					if _, err := io.ReadFull(c, hdr[:]); err != nil {
						return
					}
					n := int64(binary.BigEndian.Uint64(hdr[1:]))
					if hdr[0] == 'u' {
						if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, n), buf); err != nil {
							return
						}
					} else {
						for left := n; left > 0; {
							k := min(left, int64(len(buf)))
							if _, err := c.Write(buf[:k]); err != nil {
								return
							}
							left -= k
						}
					}
					if _, err := c.Write([]byte{1}); err != nil {
						return
					}
				}
			}()
		}
	}()
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	src := make([]byte, piece)
	for i := range src {
		src[i] = byte(i * 7)
	}
	parallel := func(fn func(worker int, off int64) error) float64 {
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Value
		start := time.Now()
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					off := next.Add(piece) - piece
					if off >= size {
						return
					}
					if err := fn(w, off); err != nil {
						failed.Store(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		return float64(size) / 1e6 / time.Since(start).Seconds()
	}
	conns := make([]net.Conn, 4)
	for i := range conns {
		if conns[i], err = tls.Dial("tcp", ln.Addr().String(), cfg); err != nil {
			b.Fatal(err)
		}
		defer conns[i].Close()
	}
	dst := make([][]byte, 4)
	for i := range dst {
		dst[i] = make([]byte, piece)
	}
	xfer := func(dir byte) func(int, int64) error {
		return func(w int, off int64) error {
			c := conns[w]
			n := min(int64(piece), size-off)
			var hdr [9]byte
			hdr[0] = dir
			binary.BigEndian.PutUint64(hdr[1:], uint64(n))
			if _, err := c.Write(hdr[:]); err != nil {
				return err
			}
			if dir == 'u' {
				if _, err := c.Write(src[:n]); err != nil {
					return err
				}
			} else if _, err := io.ReadFull(c, dst[w][:n]); err != nil {
				return err
			}
			var ack [1]byte
			_, err := io.ReadFull(c, ack[:])
			return err
		}
	}
	var up, down, disk float64
	for range rounds {
		up = max(up, parallel(xfer('u')))
		down = max(down, parallel(xfer('d')))
		path := filepath.Join(b.TempDir(), "raw")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		parallel(func(_ int, off int64) error {
			_, err := f.WriteAt(src[:min(int64(piece), size-off)], off)
			return err
		})
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		disk = max(disk, float64(size)/1e6/time.Since(start).Seconds())
		f.Close()
		os.Remove(path)
	}
	fmt.Printf("Machine limits: %d MiB in 8 MiB pieces, 4 parallel, best of %d: raw TLS loopback upload %.0f MB/s, download %.0f MB/s; disk write+fsync %.0f MB/s\n",
		mib, rounds, up, down, disk)
	b.ReportMetric(up, "tls-up-MB/s")
	b.ReportMetric(down, "tls-down-MB/s")
	b.ReportMetric(disk, "disk-fsync-MB/s")
}
