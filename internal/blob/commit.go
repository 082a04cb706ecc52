package blob

import (
	"context"
	"fmt"
	"sync"

	"github.com/amlid/amlid/internal/store"
)

// committer batches the metadata transactions of concurrent requests
// (group commit): while one store transaction runs, the next ones queue,
// and the queue then commits as one transaction. A durable store pays one
// fsync per batch instead of one per blob. If a batch fails (a request's
// condition refused, a conflict), each of its transactions runs again on
// its own, so every request gets exactly its own outcome.
//
// The functions must be re-runnable (the store may retry them too) and
// must not keep state from a failed run.
type committer struct {
	st store.Store

	mu      sync.Mutex
	queue   []*pendingTx
	running bool
}

type pendingTx struct {
	ctx  context.Context
	fn   func(tx store.Tx) error
	done chan error
}

// maxBatch bounds one group commit.
const maxBatch = 64

// Tx runs fn in a transaction, possibly together with others.
func (c *committer) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	p := &pendingTx{ctx: ctx, fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if !c.running {
		c.running = true
		go c.lead()
	}
	c.mu.Unlock()
	return <-p.done
}

func (c *committer) lead() {
	for {
		c.mu.Lock()
		n := min(len(c.queue), maxBatch)
		batch := c.queue[:n:n]
		c.queue = c.queue[n:]
		if n == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if len(batch) == 1 {
			p := batch[0]
			p.done <- c.st.Tx(p.ctx, p.safe)
			continue
		}
		err := c.st.Tx(context.Background(), func(tx store.Tx) error {
			for _, p := range batch {
				if err := p.ctx.Err(); err != nil {
					return err
				}
				if err := p.safe(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			for _, p := range batch {
				p.done <- nil
			}
			continue
		}
		for _, p := range batch {
			p.done <- c.st.Tx(p.ctx, p.safe)
		}
	}
}

// safe runs the request's function, turning a panic into its error (the
// leader goroutine serves other requests and must not die).
func (p *pendingTx) safe(tx store.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("blob: panic in a metadata transaction: %v", r)
		}
	}()
	return p.fn(tx)
}
