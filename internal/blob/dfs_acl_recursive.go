package blob

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

type aclFailure struct {
	ErrorMessage string `json:"errorMessage"`
	Name         string `json:"name"`
	Type         string `json:"type"`
}

// aclResult is the body of a setAccessControlRecursive response.
type aclResult struct {
	Dirs     int          `json:"directoriesSuccessful"`
	Files    int          `json:"filesSuccessful"`
	Failures int          `json:"failureCount"`
	Failed   []aclFailure `json:"failedEntries"`
}

// aclBatch is one setAccessControlRecursive request: the change to apply,
// the batch's bounds, and what it did.
type aclBatch struct {
	q           *req
	mode, raw   string        // x-ms-acl as sent, for errors
	entries     []parsedEntry // for directories
	fileEntries []parsedEntry // for files: the entries without default:
	force       bool          // forceflag: go on past paths the caller may not change
	max         int           // paths in this batch
	top         string        // the path the change starts at ("" = the root)

	res  aclResult
	next string // the path to resume after ("" = done)
}

// setAccessControlRecursive applies an ACL change to a path and everything
// under it, at most maxRecords paths per request (one transaction each);
// x-ms-continuation resumes. A caller authorized by ACLs rather than a role
// changes only the paths it owns; the others are reported as failures.
func (h *Handler) setAccessControlRecursive(q *req) error {
	run, err := newACLBatch(q)
	if err != nil {
		return err
	}
	c, err := q.dfsContainer(h)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	listing := "dfs-acl|" + c.UID + "|" + run.top
	after, resume := "", false
	if v := q.query("continuation"); v != "" {
		if after, err = h.resumeAt(ctx, listing, v); err != nil {
			return err
		}
		resume = true
	}
	err = h.commit.Tx(ctx, func(tx store.Tx) error {
		run.res, run.next = aclResult{Failed: []aclFailure{}}, ""
		if err := liveContainer(ctx, tx, c); err != nil {
			return err
		}
		count := 0
		if !resume {
			more, err := run.applyTop(ctx, tx, c)
			if err != nil || !more {
				return err
			}
			count++
		}
		return run.applyBelow(ctx, tx, c, after, count)
	})
	if err != nil {
		return dfsMapTxErr(err)
	}
	if run.next != "" {
		tok, err := h.continuation(ctx, listing, run.next)
		if err != nil {
			return err
		}
		q.w.Header().Set("x-ms-continuation", tok)
	}
	return writeJSON(q, http.StatusOK, run.res)
}

// newACLBatch reads the request: mode, x-ms-acl, maxRecords, forceflag.
func newACLBatch(q *req) (*aclBatch, error) {
	run := &aclBatch{q: q, mode: q.query("mode"), raw: q.r.Header.Get("x-ms-acl"), top: q.blob}
	if run.mode != aclModeSet && run.mode != aclModeModify && run.mode != aclModeRemove {
		return nil, errInvalidQuery("mode", run.mode, "use set, modify or remove")
	}
	var err error
	if run.entries, err = parseACL(run.raw, run.mode != aclModeRemove); err != nil {
		return nil, errInvalidHeader("x-ms-acl", run.raw, err.Error())
	}
	if run.max, err = q.maxRecords("maxRecords", 2000); err != nil {
		return nil, err
	}
	run.max = max(run.max, 2)
	run.force = strings.EqualFold(q.query("forceflag"), "true")
	for _, e := range run.entries {
		if !e.def {
			run.fileEntries = append(run.fileEntries, e)
		}
	}
	return run, nil
}

// applyTop applies the change to the path it starts at (the root or a
// path). It reports whether to go on below it: not for a file, nor after
// a refusal without forceflag.
func (run *aclBatch) applyTop(ctx context.Context, tx store.Tx, c *storage.Container) (bool, error) {
	if run.top == "" {
		a, err := rootAttrs(ctx, tx, c)
		if err != nil {
			return false, err
		}
		ok, err := run.apply("/", a, true)
		if err != nil {
			return false, err
		}
		if !ok {
			return run.force, nil
		}
		run.res.Dirs++
		return true, putRootAttrs(ctx, tx, c, a)
	}
	b, err := getBlob(ctx, tx, c, run.top)
	if errors.Is(err, store.ErrNotFound) {
		return false, errPathNotFound()
	}
	if err != nil {
		return false, err
	}
	ok, err := run.applyTo(ctx, tx, c, b)
	if err != nil {
		return false, err
	}
	return b.isDir() && (ok || run.force), nil
}

// applyBelow applies the change to the paths under top, after the one
// named (a continuation), until the batch holds max paths (count are
// done already); it sets next where the next batch resumes.
func (run *aclBatch) applyBelow(ctx context.Context, tx store.Tx, c *storage.Container, after string, count int) error {
	prefix := ""
	if run.top != "" {
		prefix = run.top + "/"
	}
	opts := store.ListOptions{KeyPrefix: blobKey(c, prefix), Limit: run.max - count + 1}
	if after != "" {
		opts.After = blobKey(c, after)
	}
	recs, err := tx.List(ctx, KindBlob, opts)
	if err != nil {
		return err
	}
	for i, rec := range recs {
		if count >= run.max {
			if i == 0 {
				run.next = run.top
			} else {
				run.next = strings.TrimPrefix(recs[i-1].Key, blobKey(c, ""))
			}
			return nil
		}
		var b blobRecord
		if err := json.Unmarshal(rec.Value, &b); err != nil {
			return err
		}
		ok, err := run.applyTo(ctx, tx, c, &b)
		if err != nil {
			return err
		}
		count++
		if !ok && !run.force {
			run.next = b.Name
			return nil
		}
	}
	return nil
}

// applyTo applies the change to one path and stores it; false when the
// caller may not change it (a failure is counted instead).
func (run *aclBatch) applyTo(ctx context.Context, tx store.Tx, c *storage.Container, b *blobRecord) (bool, error) {
	a := b.attrs()
	ok, err := run.apply(b.Name, a, b.isDir())
	if err != nil || !ok {
		return false, err
	}
	if b.isDir() {
		run.res.Dirs++
	} else {
		run.res.Files++
	}
	b.Posix = a
	return true, putBlob(ctx, tx, c, b)
}

// apply changes one path's attributes in memory, unless the caller is
// authorized by ACLs and does not own the path (rule DS-9): that is a
// failure entry, not an error. Files take only the access entries.
func (run *aclBatch) apply(name string, a *posixAttrs, isDir bool) (bool, error) {
	q := run.q
	if q.posix != nil && !strings.EqualFold(a.Owner, q.posix.ObjectID) {
		typ := "FILE"
		if isDir {
			typ = "DIRECTORY"
		}
		run.res.Failures++
		run.res.Failed = append(run.res.Failed, aclFailure{Name: name, Type: typ, ErrorMessage: "This request is not authorized to perform this operation using this permission. Only the owner (" + a.Owner + ") or a superuser may change the ACL of '" + q.dfsPathOf(name) + "' (rule DS-9)."})
		return false, nil
	}
	es := run.entries
	if !isDir {
		es = run.fileEntries
		if len(es) == 0 {
			return true, nil
		}
	}
	if err := applyACL(a, es, run.mode, isDir); err != nil {
		return false, errInvalidHeader("x-ms-acl", run.raw, err.Error())
	}
	return true, nil
}
