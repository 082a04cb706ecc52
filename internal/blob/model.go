package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

// Store kinds owned by this package.
const (
	// KindBlob: key "<container UID>/<blob name>" (byte order = listing
	// order), value blobRecord.
	KindBlob = "blob.blob"
	// KindBlock: an uncommitted block; key "<UID>/<h>/<block ID>" where h
	// hashes the blob name, value blockRecord.
	KindBlock = "blob.block"
	// KindStaging marks a blob name that has uncommitted blocks; key
	// "<UID>/<h>", value {"name": …}.
	KindStaging = "blob.staging"
	// KindData: a small blob body kept in the store; key = data ID, value =
	// the raw bytes.
	KindData = "blob.data"
)

// segment is a piece of a committed blob: a data file (or an inline body)
// and, for blobs committed from a block list, the block's ID.
type segment struct {
	File  string `json:"f,omitempty"`
	Size  int64  `json:"s"`
	Block string `json:"b,omitempty"`
}

// contentProps are the blob's HTTP content properties.
type contentProps struct {
	Type         string `json:"type,omitempty"`
	Encoding     string `json:"enc,omitempty"`
	Language     string `json:"lang,omitempty"`
	Disposition  string `json:"disp,omitempty"`
	CacheControl string `json:"cache,omitempty"`
	MD5          []byte `json:"md5,omitempty"`
}

// copyInfo records the (synchronous) copy that produced a blob.
type copyInfo struct {
	ID         string    `json:"id"`
	Source     string    `json:"src"`
	Status     string    `json:"status"`
	Progress   string    `json:"progress"`
	Completion time.Time `json:"done"`
}

// blobRecord is a committed block blob.
type blobRecord struct {
	Name     string            `json:"name"`
	Created  time.Time         `json:"created"`
	Modified time.Time         `json:"modified"`
	ETag     string            `json:"etag"`
	Size     int64             `json:"size"`
	Props    contentProps      `json:"props"`
	Meta     map[string]string `json:"meta,omitempty"`
	Tier     string            `json:"tier,omitempty"`
	TierTime time.Time         `json:"tierTime,omitzero"`
	// Inline is the KindData key of a small body (no segments then).
	Inline string `json:"inline,omitempty"`
	// Segments in order; their sizes add up to Size.
	Segments []segment `json:"segs,omitempty"`
	// FromBlocks: committed with Put Block List (Get Block List lists the
	// segments as committed blocks).
	FromBlocks bool      `json:"fromBlocks,omitempty"`
	Copy       *copyInfo `json:"copy,omitempty"`
	// Posix are the path's owner, group and ACLs on an HNS account.
	Posix *posixAttrs `json:"px,omitempty"`
}

// files lists the data files of a record.
func (b *blobRecord) files() []string {
	var out []string
	for _, s := range b.Segments {
		if s.File != "" {
			out = append(out, s.File)
		}
	}
	return out
}

// blockRecord is an uncommitted block.
type blockRecord struct {
	ID      string    `json:"id"` // as sent (base64)
	Size    int64     `json:"size"`
	File    string    `json:"f"`
	Created time.Time `json:"created"`
}

func blobKey(c *storage.Container, name string) string { return c.UID + "/" + name }

func nameHash(name string) string {
	s := sha256.Sum256([]byte(name))
	return hex.EncodeToString(s[:16])
}

func stagingKey(c *storage.Container, name string) string { return c.UID + "/" + nameHash(name) }

func blockKey(c *storage.Container, name, id string) string { return stagingKey(c, name) + "/" + id }

func getBlob(ctx context.Context, rd store.Reader, c *storage.Container, name string) (*blobRecord, error) {
	rec, err := rd.Get(ctx, KindBlob, blobKey(c, name))
	if err != nil {
		return nil, err
	}
	var b blobRecord
	if err := json.Unmarshal(rec.Value, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

func putBlob(ctx context.Context, tx store.Tx, c *storage.Container, b *blobRecord) error {
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	_, err = tx.Put(ctx, store.Record{Kind: KindBlob, Key: blobKey(c, b.Name), Parent: c.UID, Value: v}, "")
	return err
}

// dropStaged deletes a blob name's uncommitted blocks inside tx and
// returns their files (to remove after commit).
func dropStaged(ctx context.Context, tx store.Tx, c *storage.Container, name string) ([]string, error) {
	sk := stagingKey(c, name)
	if _, err := tx.Get(ctx, KindStaging, sk); errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	blocks, err := listStaged(ctx, tx, c, name)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, b := range blocks {
		if err := tx.Delete(ctx, KindBlock, blockKey(c, name, b.ID), ""); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		files = append(files, b.File)
	}
	if err := tx.Delete(ctx, KindStaging, sk, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return files, nil
}

func listStaged(ctx context.Context, rd store.Reader, c *storage.Container, name string) ([]blockRecord, error) {
	recs, err := rd.List(ctx, KindBlock, store.ListOptions{KeyPrefix: stagingKey(c, name) + "/"})
	if err != nil {
		return nil, err
	}
	out := make([]blockRecord, 0, len(recs))
	for _, r := range recs {
		var b blockRecord
		if err := json.Unmarshal(r.Value, &b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// deletingContainer removes every record of a container inside the
// transaction that deletes it (storage.ContainerHooks.Deleting).
func (h *Handler) deletingContainer(ctx context.Context, tx store.Tx, c *storage.Container) error {
	if c.UID == "" {
		return nil
	}
	for _, kind := range []string{KindBlob, KindBlock, KindStaging} {
		recs, err := tx.List(ctx, kind, store.ListOptions{KeyPrefix: c.UID + "/"})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if kind == KindBlob {
				var b blobRecord
				if json.Unmarshal(r.Value, &b) == nil && b.Inline != "" {
					if err := tx.Delete(ctx, KindData, b.Inline, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
				}
			}
			if err := tx.Delete(ctx, kind, r.Key, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	if err := tx.Delete(ctx, KindFSRoot, c.UID, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// deletedContainer removes the container's files after the commit.
func (h *Handler) deletedContainer(ctx context.Context, c *storage.Container) {
	h.data.removeContainer(c.UID)
}
