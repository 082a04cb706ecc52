package authorization

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/rbac"
	"github.com/amlid/amlid/internal/store"
)

// Fast restart (issue 23): a snapshot of the engine's assignments plus a
// journal of the RBAC writes made since.
//
// Every transaction that changes RBAC state bumps rbac.meta/version (as
// before) and, in the same transaction, writes journal entry number seq
// (the version's new value holds seq) naming the assignment keys it wrote
// or deleted and the version ETags it moved from and to. A snapshot is the
// engine's assignments at one (seq, version) in compact binary chunks
// (rbac.EncodeSnapshot, CRC-checked), with a head record naming them.
//
// Loading: read the version (seq C, ETag E), the head (seq S, ETag ES),
// then journal entries S+1..C. They must chain: ES is entry S+1's "from",
// each entry's "to" is the next one's "from", and entry C's "to" is E; a
// missing entry, a broken chain, a head newer than the version, a chunk
// missing or a bad CRC means the snapshot is not used (full load of every
// record, as before). Then each journaled key is read again from the store
// (its current record, or its absence, wins over the snapshot), so the
// snapshot can neither hide a later write nor resurrect a deleted
// assignment. Anything written after the version was read is caught by the
// next version check (the engine is marked with E).
//
// A snapshot is written (in the background) after a full load of at least
// snapshotMinAssignments, and when snapshotJournalMax entries accumulated
// since the last one; writing it deletes the journal entries it covers.
const (
	kindJournal  = "rbac.journal"
	kindSnapshot = "rbac.snapshot"
	keyHead      = "head"

	snapshotChunk          = 1 << 20
	snapshotMinAssignments = 10_000
	snapshotJournalMax     = 4096
)

// versionValue is rbac.meta/version's value.
type versionValue struct {
	Seq uint64 `json:"seq"`
}

// journalEntry is one RBAC transaction.
type journalEntry struct {
	From string   `json:"from"`
	To   string   `json:"to"`
	Keys []string `json:"keys,omitempty"` // assignment keys written or deleted
	// Roles: custom role definitions changed (roles are always read whole).
	Roles bool `json:"roles,omitempty"`
}

// snapshotHead describes the current snapshot.
type snapshotHead struct {
	Seq         uint64 `json:"seq"`
	Version     string `json:"version"`
	Chunks      int    `json:"chunks"`
	Bytes       int    `json:"bytes"`
	Assignments int    `json:"assignments"`
}

func journalKey(seq uint64) string { return fmt.Sprintf("%020d", seq) }

func chunkPrefix(seq uint64) string { return fmt.Sprintf("c%020d-", seq) }

// readVersion returns rbac.meta/version's ETag and seq ("", 0 when absent;
// a version written before the journal existed has seq 0).
func readVersion(ctx context.Context, rd store.Reader) (string, uint64, error) {
	rec, err := rd.Get(ctx, kindMeta, keyVersion)
	if errors.Is(err, store.ErrNotFound) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	var v versionValue
	_ = json.Unmarshal(rec.Value, &v) // "{}" (older versions): seq 0
	return rec.ETag, v.Seq, nil
}

// bumpJournal bumps the version inside tx and journals the change.
func bumpJournal(ctx context.Context, tx store.Tx, roles bool, keys ...string) (versionStep, error) {
	var step versionStep
	from, seq, err := readVersion(ctx, tx)
	if err != nil {
		return step, err
	}
	seq++
	b, _ := json.Marshal(versionValue{Seq: seq})
	rec, err := tx.Put(ctx, store.Record{Kind: kindMeta, Key: keyVersion, Value: b}, "")
	if err != nil {
		return step, err
	}
	step = versionStep{from: from, to: rec.ETag, seq: seq}
	j, _ := json.Marshal(journalEntry{From: from, To: rec.ETag, Keys: keys, Roles: roles})
	_, err = tx.Put(ctx, store.Record{Kind: kindJournal, Key: journalKey(seq), Value: j}, "")
	return step, err
}

// journalSince returns entries from+1..to, checked to chain from version
// fromV to version toV; ok is false if any is missing or the chain breaks.
func journalSince(ctx context.Context, rd store.Reader, from uint64, fromV string, to uint64, toV string) ([]journalEntry, bool, error) {
	if from > to {
		return nil, false, nil
	}
	if from == to {
		return nil, fromV == toV, nil
	}
	recs, err := rd.List(ctx, kindJournal, store.ListOptions{After: journalKey(from), Limit: int(to - from)})
	if err != nil {
		return nil, false, err
	}
	if len(recs) != int(to-from) {
		return nil, false, nil
	}
	out := make([]journalEntry, len(recs))
	prev := fromV
	for i, r := range recs {
		if r.Key != journalKey(from+uint64(i)+1) || json.Unmarshal(r.Value, &out[i]) != nil || out[i].From != prev {
			return nil, false, nil
		}
		prev = out[i].To
	}
	return out, prev == toV, nil
}

// loadSnapshot returns the assignments at version (v, seq) from the
// snapshot and the journal, or ok false when they cannot be trusted.
func (s *Service) loadSnapshot(ctx context.Context, v string, seq uint64) (snap *rbac.Snapshot, snapSeq uint64, ok bool, err error) {
	rec, err := s.st.Get(ctx, kindSnapshot, keyHead)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	var h snapshotHead
	if json.Unmarshal(rec.Value, &h) != nil {
		s.log.Warn("RBAC snapshot head is damaged: loading every role assignment")
		return nil, 0, false, nil
	}
	journal, ok, err := journalSince(ctx, s.st, h.Seq, h.Version, seq, v)
	if err != nil || !ok {
		if err == nil {
			s.log.Info("RBAC snapshot is stale (its journal does not reach the current version): loading every role assignment", "snapshot", h.Seq, "version", seq)
		}
		return nil, 0, false, err
	}
	chunks, err := s.st.List(ctx, kindSnapshot, store.ListOptions{KeyPrefix: chunkPrefix(h.Seq)})
	if err != nil {
		return nil, 0, false, err
	}
	size := 0
	for _, c := range chunks {
		size += len(c.Value)
	}
	if len(chunks) != h.Chunks || size != h.Bytes {
		s.log.Warn("RBAC snapshot is incomplete: loading every role assignment", "chunks", len(chunks), "want", h.Chunks)
		return nil, 0, false, nil
	}
	blob := make([]byte, 0, size)
	for _, c := range chunks {
		blob = append(blob, c.Value...)
	}
	chunks = nil
	snap, err = rbac.DecodeSnapshot(blob)
	if err != nil || snap.Len() != h.Assignments {
		s.log.Warn("RBAC snapshot is damaged: loading every role assignment", "err", err)
		return nil, 0, false, nil
	}
	// Journaled keys: the store's current record wins.
	touched := map[string]bool{}
	for _, j := range journal {
		for _, k := range j.Keys {
			touched[strings.ToLower(k)] = true
		}
	}
	if len(touched) > 0 {
		snap.Delete(touched)
		for k := range touched {
			rec, err := s.st.Get(ctx, KindAssignment, k)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, 0, false, err
			}
			a, use, err := s.decodeAssignment(rec)
			if err != nil {
				return nil, 0, false, err
			}
			if use {
				snap.Add(a)
			}
		}
	}
	return snap, h.Seq, true, nil
}

// catchUp brings the engine from its version to version (v, seq) in place
// when the journal links them and holds only assignment writes (another
// replica's, or a Grant in someone else's transaction): a few store reads
// instead of a reload. It reports whether it did; if not, or if it failed
// half-way, the caller reloads (which replaces the whole engine).
func (s *Service) catchUp(ctx context.Context, v string, seq uint64) bool {
	if s.loaded == "" || seq <= s.seq || seq-s.seq > snapshotJournalMax {
		// Never loaded (a new service's engine is empty, not the store's
		// state at its version), or nothing or too much to apply.
		return false
	}
	journal, ok, err := journalSince(ctx, s.st, s.seq, s.version, seq, v)
	if err != nil || !ok {
		return false
	}
	touched := map[string]bool{}
	for _, j := range journal {
		if j.Roles {
			return false
		}
		for _, k := range j.Keys {
			touched[strings.ToLower(k)] = true
		}
	}
	for k := range touched {
		rec, err := s.st.Get(ctx, KindAssignment, k)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false
		}
		s.engine.DeleteAssignment(k)
		if err != nil {
			continue
		}
		a, use, err := s.decodeAssignment(rec)
		if err != nil {
			return false
		}
		if use && s.engine.PutAssignment(a) != nil {
			return false // one Load would keep but Put refuses: reload
		}
	}
	return true
}

// decodeAssignment decodes a stored assignment for the engine; use is false
// for one the engine must not load (an ABAC condition: fail closed).
func (s *Service) decodeAssignment(r store.Record) (a rbac.Assignment, use bool, err error) {
	var sa storedAssignment
	if err := json.Unmarshal(r.Value, &sa.Assignment); err != nil {
		return a, false, fmt.Errorf("corrupt role assignment %s: %w", r.Key, err)
	}
	sa.fill()
	if strings.TrimSpace(sa.Condition) != "" {
		// A conditional assignment stored before conditions were refused
		// grants nothing (amlid cannot evaluate it, and granting without
		// the condition would widen it).
		s.log.Warn("role assignment with an ABAC condition ignored: conditions are not evaluated", "assignment", sa.ID)
		return a, false, nil
	}
	return sa.Assignment, true, nil
}

// maybeSnapshot starts a background snapshot when none is running and the
// journal since the last one is long enough (or force).
func (s *Service) maybeSnapshot(force bool) {
	s.mu.Lock()
	due := !s.snapping && s.version != "" && (force || s.seq-s.snapSeq >= snapshotJournalMax)
	if due {
		s.snapping = true
		s.snapWG.Add(1)
	}
	s.mu.Unlock()
	if !due {
		return
	}
	go func() {
		defer s.snapWG.Done()
		err := s.WriteSnapshot(context.Background())
		s.mu.Lock()
		s.snapping = false
		s.mu.Unlock()
		if err != nil {
			s.log.Warn("RBAC snapshot not written (restarts load every role assignment until one is)", "err", err)
		}
	}()
}

// WaitSnapshot waits for a background snapshot to finish.
func (s *Service) WaitSnapshot() { s.snapWG.Wait() }

// WriteSnapshot stores a snapshot of the engine's assignments at the
// engine's version and deletes the journal entries it covers.
func (s *Service) WriteSnapshot(ctx context.Context) error {
	if err := s.fresh(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	seq, v := s.seq, s.version
	blob := s.engine.AppendSnapshot(nil)
	n := s.engine.Len()
	s.mu.Unlock()
	if v == "" {
		return nil // nothing written yet: nothing to snapshot
	}
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		// Keep a snapshot at least as recent (another replica's), unless it
		// is ahead of the version itself (the version was reset by an
		// amlid without the journal: that snapshot can never be used).
		_, cur, err := readVersion(ctx, tx)
		if err != nil {
			return err
		}
		if rec, err := tx.Get(ctx, kindSnapshot, keyHead); err == nil {
			var old snapshotHead
			if json.Unmarshal(rec.Value, &old) == nil && old.Seq >= seq && old.Seq <= cur && old.Version != "" {
				return errSnapshotCurrent
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		old, err := tx.List(ctx, kindSnapshot, store.ListOptions{KeyPrefix: "c"})
		if err != nil {
			return err
		}
		for _, r := range old {
			if err := tx.Delete(ctx, kindSnapshot, r.Key, ""); err != nil {
				return err
			}
		}
		chunks := 0
		for off := 0; off < len(blob); off += snapshotChunk {
			part := blob[off:min(off+snapshotChunk, len(blob))]
			key := chunkPrefix(seq) + fmt.Sprintf("%06d", chunks)
			if _, err := tx.Put(ctx, store.Record{Kind: kindSnapshot, Key: key, Value: bytes.Clone(part)}, ""); err != nil {
				return err
			}
			chunks++
		}
		h, _ := json.Marshal(snapshotHead{Seq: seq, Version: v, Chunks: chunks, Bytes: len(blob), Assignments: n})
		if _, err := tx.Put(ctx, store.Record{Kind: kindSnapshot, Key: keyHead, Value: h}, ""); err != nil {
			return err
		}
		// The journal up to seq is in the snapshot now.
		for {
			js, err := tx.List(ctx, kindJournal, store.ListOptions{Limit: 1000})
			if err != nil {
				return err
			}
			done := 0
			for _, r := range js {
				if n, err := strconv.ParseUint(r.Key, 10, 64); err == nil && n > seq {
					break
				}
				if err := tx.Delete(ctx, kindJournal, r.Key, ""); err != nil {
					return err
				}
				done++
			}
			if done < 1000 {
				return nil
			}
		}
	})
	if errors.Is(err, errSnapshotCurrent) {
		return nil
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.snapSeq = max(s.snapSeq, seq)
	s.mu.Unlock()
	return nil
}

var errSnapshotCurrent = errors.New("a snapshot as recent exists")
