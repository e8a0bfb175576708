package breakglass

import (
	"context"
	"testing"
)

// The steady path of a request under a grant: Active (one store Get and a
// JSON decode), Recheck answered from memory, Check.
func BenchmarkSteadyPath(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b, testConfig(), Options{})
	g, err := f.svc.Request(ctx, alice, request("billing", "INC-1"))
	if err != nil {
		b.Fatal(err)
	}
	if err := f.svc.Activate(ctx, g); err != nil {
		b.Fatal(err)
	}
	now := f.clk.Now()
	b.Run("Active", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if g, err := f.svc.Active(ctx, alice, "billing"); g == nil || err != nil {
				b.Fatal(g, err)
			}
		}
	})
	b.Run("Recheck-memo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if still, err := f.svc.Recheck(ctx, g); !still || err != nil {
				b.Fatal(still, err)
			}
		}
	})
	b.Run("Check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ok, _ := Check(&g, "billing", now); !ok {
				b.Fatal("not ok")
			}
		}
	})
}
