package ws

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/query"
	"github.com/rs/zerolog"
)

// BenchmarkFanout measures Publish of one single-row create to n
// subscriptions of one collection, each on a connection of its own, with a
// filter that matches and a shared field projection: per subscription the
// hub checks the filter, builds the frame and queues it; writers drain the
// queues concurrently (into no socket). Each op waits until every queue is
// drained. ns/sub is the time per subscription; allocs/op must not grow
// with n.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 1000, 100000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, n int) {
	srv, err := NewServer(Config{AuthMode: AuthPublic, MaxConns: n + 10, QueueBytes: 1 << 30}, nil, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close(b.Context())
	t := &query.Table{Collection: "items", Schema: "public", Name: "items", Key: []string{"id"},
		Columns: []query.Column{{Name: "id", Type: "int4"}, {Name: "name", Type: "text"}, {Name: "qty", Type: "int4"}}}
	srv.SetPosition(cdc.Mark{})
	for i := 0; i < n; i++ {
		c := &conn{s: srv, subs: map[string]*subscription{}}
		spec, err := query.Parse(t, []byte(`{"fields":["id","name"],"filter":{"qty":{"_gt":10}}}`), query.Env{}, query.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		sub := &subscription{c: c, uid: []byte(fmt.Sprintf(`"sub-%d"`, i)), mask: evAll, coll: t.Collection,
			table: t, proj: spec.Projection, filter: spec.Filter}
		if _, ok := srv.hub.addPending(sub); !ok {
			b.Fatal("not added")
		}
		if err := srv.hub.catchUp(sub, &renderer{}, 0); err != nil {
			b.Fatal(err)
		}
	}
	batch := []cdc.Change{{Collection: "items", Op: cdc.OpCreate,
		New: [][]byte{[]byte(`{"id": 42, "qty": 50, "name": "a message of a typical size for a chat application"}`)}}}
	drain := func() {
		for srv.stats.queued.Load() > 0 {
			runtime.Gosched()
		}
	}
	// Warm up: grow every buffer once.
	for i := 0; i < 5; i++ {
		batch[0].Pos++
		srv.Publish(batch)
		drain()
	}
	before := srv.stats.delivered.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch[0].Pos++
		srv.Publish(batch)
		drain()
	}
	b.StopTimer()
	if got := srv.stats.delivered.Load() - before; got != int64(b.N*n) {
		b.Fatalf("delivered %d frames, want %d", got, b.N*n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sub")
}
