package runtime

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/testutil"
)

// BenchmarkStart measures Start (processes launched, init() returned) plus
// Stop for a standard-library score.py and for the seed's sklearn model.
//
//	go test -run '^$' -bench BenchmarkStart -benchtime 10x ./internal/runtime/
func BenchmarkStart(b *testing.B) {
	for _, c := range []struct {
		name      string
		files     map[string]string
		model     bool
		instances int
	}{
		{"stdlib/1", map[string]string{"score.py": echoScript}, false, 1},
		{"stdlib/2", map[string]string{"score.py": echoScript}, false, 2},
		{"sklearn/1", map[string]string{"score.py": seedScore}, true, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := newSup(b)
			spec := Spec{ID: depID("bench"), CodeDir: code(b, c.files), ScoringScript: "score.py", Instances: c.instances}
			if c.model {
				spec.ModelDir = trainModel(b)
			}
			ctx := context.Background()
			var total time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := s.Start(ctx, spec); err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
				if err := s.Stop(ctx, spec.ID); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-ready")
		})
	}
}

// BenchmarkScore measures Score round trips (Go → harness → run() → Go)
// from 8 parallel callers: requests/s and p50/p99 latency.
//
//	go test -run '^$' -bench BenchmarkScore -benchtime 3s ./internal/runtime/
func BenchmarkScore(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run("instances="+strconv.Itoa(n), func(b *testing.B) {
			s := newSup(b)
			id := depID("bench")
			start(b, s, Spec{ID: id, CodeDir: code(b, map[string]string{"score.py": "def init():\n    pass\n\ndef run(raw):\n    return raw\n"}),
				ScoringScript: "score.py", Instances: n})
			body := []byte(`{"data": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]]}`)
			var mu sync.Mutex
			var all []time.Duration
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var lat []time.Duration
				for pb.Next() {
					t0 := time.Now()
					code, _, _, err := s.Score(context.Background(), id, body, "application/json")
					if err != nil || code != 200 {
						b.Errorf("score: %d %v", code, err)
						return
					}
					lat = append(lat, time.Since(t0))
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
			b.StopTimer()
			testutil.ReportLatencies(b, all)
		})
	}
}
