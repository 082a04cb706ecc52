package blob

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/amlid/amlid/internal/store"
)

// StagedBlockLifetime is how long uncommitted blocks live (the service
// discards them after a week).
const StagedBlockLifetime = 7 * 24 * time.Hour

// SweepResult counts what Sweep removed.
type SweepResult struct {
	OrphanFiles, OrphanDirs, StaleBlocks int
}

// Sweep removes what a crash or an abandoned upload leaves behind: data
// files no record references (written but never committed) and
// directories of containers that no longer exist, when older than grace
// (so uploads in flight are left alone), and uncommitted blocks older than
// StagedBlockLifetime. Run it at start-up and now and then; it is safe
// while serving.
func (h *Handler) Sweep(ctx context.Context, grace time.Duration) (SweepResult, error) {
	var res SweepResult
	now := h.now()
	// Stale staged blocks first (their files then count as orphans).
	blocks, err := h.st.List(ctx, KindBlock, store.ListOptions{})
	if err != nil {
		return res, err
	}
	for _, rec := range blocks {
		var b blockRecord
		if json.Unmarshal(rec.Value, &b) != nil || now.Sub(b.Created) < StagedBlockLifetime {
			continue
		}
		if err := store.Delete(ctx, h.st, KindBlock, rec.Key, rec.ETag); err == nil {
			res.StaleBlocks++
		} else if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
			return res, err
		}
	}
	uids, err := h.prov.AllContainerUIDs(ctx)
	if err != nil {
		return res, err
	}
	// Files referenced by a record, listed after the directory listing
	// below would race with commits; list records first and only remove
	// files older than grace, which no in-flight request can commit.
	referenced := map[string]bool{}
	for _, kind := range []string{KindBlob, KindBlock} {
		recs, err := h.st.List(ctx, kind, store.ListOptions{})
		if err != nil {
			return res, err
		}
		for _, rec := range recs {
			uid, _, _ := cutSlash(rec.Key)
			switch kind {
			case KindBlob:
				var b blobRecord
				if json.Unmarshal(rec.Value, &b) == nil {
					for _, f := range b.files() {
						referenced[fileKey(uid, f)] = true
					}
				}
			case KindBlock:
				var b blockRecord
				if json.Unmarshal(rec.Value, &b) == nil {
					referenced[fileKey(uid, b.File)] = true
				}
			}
		}
	}
	// Staged blocks with no record left also lose their staging marker.
	stagings, err := h.st.List(ctx, KindStaging, store.ListOptions{})
	if err != nil {
		return res, err
	}
	for _, rec := range stagings {
		if blocks, err := h.st.List(ctx, KindBlock, store.ListOptions{KeyPrefix: rec.Key + "/", Limit: 1}); err == nil && len(blocks) == 0 {
			_ = store.Delete(ctx, h.st, KindStaging, rec.Key, rec.ETag)
		}
	}
	root := filepath.Join(h.data.root, "c")
	dirs, err := os.ReadDir(root)
	if err != nil {
		return res, err
	}
	for _, d := range dirs {
		if !d.IsDir() || !validID(d.Name()) {
			continue
		}
		uid := d.Name()
		dir := filepath.Join(root, uid)
		if !uids[uid] {
			if info, err := d.Info(); err == nil && now.Sub(info.ModTime()) >= grace {
				h.data.removeContainer(uid)
				res.OrphanDirs++
			}
			continue
		}
		files, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, f := range files {
			if f.IsDir() || !validID(f.Name()) || referenced[fileKey(uid, f.Name())] {
				continue
			}
			info, err := f.Info()
			if err != nil || now.Sub(info.ModTime()) < grace {
				continue
			}
			// Re-check the pins: a reader may hold a just-replaced file.
			h.data.removeNow(uid, []string{f.Name()})
			res.OrphanFiles++
		}
	}
	return res, nil
}

func cutSlash(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
