package job

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/store"
)

// The queue is a set of store records, one per job not yet finished, each
// with a lease: a replica claims a queued job in a transaction (the store's
// optimistic concurrency makes the claim exclusive across replicas sharing
// PostgreSQL), renews the lease while it runs the job, and deletes the
// record at the end. A job whose lease expired was being run by a replica
// that died: it is failed with that reason, never left Running.
//
// Why not a queue library (riverqueue/river): amlid keeps every state
// behind one store interface (memory, SQLite, PostgreSQL, one conformance
// suite); river needs its own tables and a database driver per backend and
// has none for the in-memory store the tests use. The lease protocol here
// is a few dozen lines over the store's Tx and ETags.

const kindQueue = "ml.jobqueue"

// leaseTTL is how long a claim lasts without renewal.
const leaseTTL = 30 * time.Second

type queued struct {
	JobID      string    `json:"jobId"`
	State      string    `json:"state"` // queued | running
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitempty"`
	Enqueued   time.Time `json:"enqueued"`
}

func queueKey(jobID string) string { return strings.ToLower(jobID) }

func (p *Provider) enqueue(ctx context.Context, jobID string) error {
	b, _ := json.Marshal(queued{JobID: jobID, State: "queued", Enqueued: time.Now().UTC()})
	if _, err := store.Create(ctx, p.Store, store.Record{Kind: kindQueue, Key: queueKey(jobID), Value: b}); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return err
	}
	if err := p.setStatus(ctx, jobID, Queued, ""); err != nil {
		return err
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

func (p *Provider) dequeue(ctx context.Context, jobID string) error {
	err := p.Store.Tx(ctx, func(tx store.Tx) error { return tx.Delete(ctx, kindQueue, queueKey(jobID), "") })
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// claim takes the oldest queued job, or one whose lease expired (its replica
// died: failed, see recoverExpired), for this replica.
func (p *Provider) claim(ctx context.Context) (string, error) {
	recs, err := p.Store.List(ctx, kindQueue, store.ListOptions{Limit: 100})
	if err != nil {
		return "", err
	}
	now := time.Now()
	for _, rec := range recs {
		var q queued
		if json.Unmarshal(rec.Value, &q) != nil || q.State != "queued" {
			continue
		}
		q.State, q.Owner, q.LeaseUntil = "running", p.Replica, now.Add(leaseTTL)
		b, _ := json.Marshal(q)
		err := p.Store.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.Put(ctx, store.Record{Kind: kindQueue, Key: rec.Key, Value: b}, rec.ETag)
			return err
		})
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue // another replica took it
		}
		if err != nil {
			return "", err
		}
		return q.JobID, nil
	}
	return "", nil
}

// renew extends this replica's lease on a job.
func (p *Provider) renew(ctx context.Context, jobID string) error {
	return p.Store.Tx(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, kindQueue, queueKey(jobID))
		if err != nil {
			return err
		}
		var q queued
		if err := json.Unmarshal(rec.Value, &q); err != nil {
			return err
		}
		q.LeaseUntil = time.Now().Add(leaseTTL)
		b, _ := json.Marshal(q)
		_, err = tx.Put(ctx, store.Record{Kind: kindQueue, Key: rec.Key, Value: b}, rec.ETag)
		return err
	})
}

// recoverExpired fails the jobs whose replica stopped renewing their lease
// (it died mid-job): never lost, never stuck Running.
func (p *Provider) recoverExpired(ctx context.Context, all bool) {
	recs, err := p.Store.List(ctx, kindQueue, store.ListOptions{})
	if err != nil {
		return
	}
	now := time.Now()
	for _, rec := range recs {
		var q queued
		if json.Unmarshal(rec.Value, &q) != nil || q.State != "running" {
			continue
		}
		if !all && now.Before(q.LeaseUntil) {
			continue
		}
		if q.Owner == p.Replica && !all {
			continue
		}
		p.Log().Warn("a job's replica stopped while running it; the job fails", "job", q.JobID, "replica", q.Owner)
		_ = p.setStatus(ctx, q.JobID, Failed, "The amlid replica running this job ("+q.Owner+") stopped before it finished (its lease expired). Submit the job again.")
		_ = p.dequeue(ctx, q.JobID)
	}
}

// Resume starts this replica's worker: jobs left running by a previous
// process of this data dir (a crash) fail, queued ones run.
func (p *Provider) Resume(ctx context.Context) error {
	if err := p.startOBO(); err != nil {
		return err
	}
	p.recoverExpired(ctx, true)
	go p.worker()
	return nil
}

// Stop stops the worker and cancels the jobs it runs (they fail as the
// replica stops, and another start fails what is left).
func (p *Provider) Stop(context.Context) {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.mu.Lock()
	for _, c := range p.running {
		c()
	}
	p.mu.Unlock()
	p.obo.stop()
}

func (p *Provider) worker() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.wake:
		case <-t.C:
			p.recoverExpired(context.Background(), false)
		}
		for {
			id, err := p.claim(context.Background())
			if err != nil {
				p.Log().Warn("job queue", "err", err)
				break
			}
			if id == "" {
				break
			}
			go p.runJob(id)
		}
	}
}

var _ = arm.KindResource
