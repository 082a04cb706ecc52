package storetest

import (
	"testing"

	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/conformance"
)

func TestKindStoreConformance(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T) store.Store { return NewKindStore() })
}
