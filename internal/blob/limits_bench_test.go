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

// The large-transfer shape of the blob benchmarks: 8 MiB pieces, 4 at a
// time.
const (
	limitPiece    = 8 << 20
	limitParallel = 4
)

// rawTLS is a TLS server over loopback with amlid's CA and TLS settings and
// no HTTP or storage, and limitParallel connections to it: what this machine
// can move with the blob benchmark's shape. A request is a direction byte
// and a length; the server then drains that many bytes ('u'), writes them
// to a new file it fsyncs ('f'), or sends them ('d'), and acks with a byte.
type rawTLS struct {
	ln    net.Listener
	conns []net.Conn
	dir   string // where 'f' writes
	src   []byte
	dst   [][]byte
}

func newRawTLS(b *testing.B) *rawTLS {
	ca, err := tlsca.LoadOrCreate(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	r := &rawTLS{dir: b.TempDir(), src: make([]byte, limitPiece)}
	for i := range r.src {
		r.src[i] = byte(i * 7)
	}
	if r.ln, err = tls.Listen("tcp", "127.0.0.1:0", ca.TLSConfig()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.ln.Close() })
	go r.serve()
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	for range limitParallel {
		c, err := tls.Dial("tcp", r.ln.Addr().String(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		r.conns = append(r.conns, c)
		r.dst = append(r.dst, make([]byte, limitPiece))
	}
	return r
}

func (r *rawTLS) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 1<<20)
			var hdr [9]byte
			for {
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				n := int64(binary.BigEndian.Uint64(hdr[1:]))
				switch hdr[0] {
				case 'u':
					if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, n), buf); err != nil {
						return
					}
				case 'f':
					if err := receiveToFile(r.dir, c, n, buf); err != nil {
						return
					}
				default:
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
}

// receiveToFile writes n bytes of c to a new file in dir in buffer-sized
// writes, starting the writeback behind each, fsyncs it and closes it: the
// least an acknowledged upload costs.
func receiveToFile(dir string, c io.Reader, n int64, buf []byte) error {
	f, err := os.CreateTemp(dir, "piece-")
	if err != nil {
		return err
	}
	defer f.Close()
	for off := int64(0); off < n; {
		k, err := io.ReadFull(c, buf[:min(n-off, int64(len(buf)))])
		if err != nil {
			return err
		}
		if _, err := f.Write(buf[:k]); err != nil {
			return err
		}
		startWriteback(f, off, int64(k))
		off += int64(k)
	}
	return f.Sync()
}

// parallelPieces runs fn for every piece of size bytes, limitParallel
// workers at a time, and returns MB/s.
func parallelPieces(b *testing.B, size int64, fn func(worker int, off, n int64) error) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for w := range limitParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				off := next.Add(limitPiece) - limitPiece
				if off >= size {
					return
				}
				if err := fn(w, off, min(int64(limitPiece), size-off)); err != nil {
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

// xfer moves size bytes in direction dir ('u', 'f' or 'd') and returns MB/s.
func (r *rawTLS) xfer(b *testing.B, dir byte, size int64) float64 {
	mbs := parallelPieces(b, size, func(w int, _, n int64) error {
		c := r.conns[w]
		var hdr [9]byte
		hdr[0] = dir
		binary.BigEndian.PutUint64(hdr[1:], uint64(n))
		if _, err := c.Write(hdr[:]); err != nil {
			return err
		}
		if dir == 'd' {
			if _, err := io.ReadFull(c, r.dst[w][:n]); err != nil {
				return err
			}
		} else if _, err := c.Write(r.src[:n]); err != nil {
			return err
		}
		var ack [1]byte
		_, err := io.ReadFull(c, ack[:])
		return err
	})
	if dir == 'f' {
		ents, _ := os.ReadDir(r.dir)
		for _, e := range ents {
			os.Remove(filepath.Join(r.dir, e.Name()))
		}
	}
	return mbs
}

// diskFsync writes size bytes into one new file of dir, limitParallel
// writers at their offsets in 1 MiB writes, starting the kernel's writeback
// behind each (as amlid's data store and the TLS + fsync harness do), then
// fsyncs it: MB/s. Without the writeback hint the dirty pages pile up and
// the final fsync writes them all at once, which measures the page cache's
// flush policy rather than what the disk can take.
func diskFsync(b *testing.B, dir string, size int64, src []byte) float64 {
	path := filepath.Join(dir, "raw")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(path)
	defer f.Close()
	start := time.Now()
	const chunk = 1 << 20
	parallelPieces(b, size, func(_ int, off, n int64) error {
		for o := int64(0); o < n; o += chunk {
			k := min(chunk, n-o)
			if _, err := f.WriteAt(src[o:o+k], off+o); err != nil {
				return err
			}
			startWriteback(f, off+o, k)
		}
		return nil
	})
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return float64(size) / 1e6 / time.Since(start).Seconds()
}

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
//
// BenchmarkLargeVsLimits measures amlid in the same run as these limits.
func BenchmarkMachineLimits(b *testing.B) {
	mib := envInt("BENCH_LARGE_MIB", 512)
	rounds := envInt("BENCH_ROUNDS", 3)
	size := int64(mib) << 20
	r := newRawTLS(b)
	var up, down, disk float64
	for range rounds {
		up = max(up, r.xfer(b, 'u', size))
		down = max(down, r.xfer(b, 'd', size))
		disk = max(disk, diskFsync(b, b.TempDir(), size, r.src))
	}
	fmt.Printf("Machine limits: %d MiB in 8 MiB pieces, 4 parallel, best of %d: raw TLS loopback upload %.0f MB/s, download %.0f MB/s; disk write+fsync %.0f MB/s\n",
		mib, rounds, up, down, disk)
	b.ReportMetric(up, "tls-up-MB/s")
	b.ReportMetric(down, "tls-down-MB/s")
	b.ReportMetric(disk, "disk-fsync-MB/s")
}
