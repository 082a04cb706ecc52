package blob

// Pieces the Blob operations share (limits, the container liveness check,
// transaction error mapping). The operations are split by what they do:
// blob_write.go, blob_read.go, blob_props.go, blob_copy.go.

import (
	"context"
	"crypto/md5"
	"errors"
	"strings"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

// Limits of the service for block blobs.
const (
	maxPutBlob  = 5000 << 20 // a single Put Blob
	maxBlock    = 4000 << 20 // one block
	maxBlocks   = 50000      // committed blocks per blob
	maxRangeMD5 = 4 << 20    // x-ms-range-get-content-md5 bound
)

// errContainerGone is returned inside a transaction when the container was
// deleted (or replaced) while the request ran.
var errContainerGone = errors.New("blob: container gone")

// liveContainer checks inside tx that c still exists (same incarnation).
func liveContainer(ctx context.Context, tx store.Tx, c *storage.Container) error {
	rec, err := tx.Get(ctx, arm.KindResource, strings.ToLower(c.ID))
	if errors.Is(err, store.ErrNotFound) {
		return errContainerGone
	}
	if err != nil {
		return err
	}
	r, err := arm.DecodeResource(rec.Value)
	if err != nil {
		return err
	}
	if uid, _ := r.Internal["uid"].(string); uid != c.UID {
		return errContainerGone
	}
	return nil
}

func mapTxErr(err error) error {
	if errors.Is(err, errContainerGone) {
		return errContainerNotFound()
	}
	return err
}

func errPermissionCreateOnly() *Error {
	return errPermission("The caller may create blobs but not overwrite them (it holds data action '" + ActionBlobAdd +
		"' or SAS permission 'c', not '" + ActionBlobWrite + "' or 'w'), and the blob exists.")
}

func md5sum(b []byte) []byte {
	s := md5.Sum(b)
	return s[:]
}
