package memory_test

import (
	"testing"

	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/conformance"
	"github.com/amlid/amlid/internal/store/memory"
)

func TestConformance(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T) store.Store { return memory.New() })
}
