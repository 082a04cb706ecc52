package server

import (
	"github.com/amlid/amlid/internal/blob"
	"github.com/amlid/amlid/internal/store"
)

// TestHooks reach into the assembly where a test needs what no flag of
// amlid up offers. Only package testenv sets them.
type TestHooks struct {
	// WrapStore wraps (or replaces) the store amlid opened, before
	// anything reads it: to count reads, or to measure another store.
	WrapStore func(store.Store) store.Store
	// Blob edits the Blob data plane's configuration before the handler
	// is built: a test makes the loopback caller count as another address
	// (LoopbackAs), or recognises its own trusted service.
	Blob func(*blob.Config)
}
