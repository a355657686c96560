package main

import (
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/ws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// streamMetrics sits between the change stream and the WebSocket server and
// counts what passes: changes by operation, the stream position, and the
// time from the writing statement to publication.
type streamMetrics struct {
	next     cdc.Sink
	position prometheus.Gauge
	changes  *prometheus.CounterVec
	lag      prometheus.Histogram
}

var (
	_ cdc.Sink       = (*streamMetrics)(nil)
	_ cdc.Positioner = (*streamMetrics)(nil)
)

func newStreamMetrics(reg prometheus.Registerer, next cdc.Sink) *streamMetrics {
	m := &streamMetrics{
		next: next,
		position: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pgfeed_stream_position",
			Help: "Last journal position published to subscribers.",
		}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgfeed_stream_changes_total",
			Help: "Changes (statement chunks) read from the journal, by operation.",
		}, []string{"op"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pgfeed_stream_lag_seconds",
			Help:    "Time from the start of the statement that wrote a change to its publication to subscribers.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	reg.MustRegister(m.position, m.changes, m.lag)
	return m
}

// SetPosition passes the starting position on.
func (m *streamMetrics) SetPosition(at cdc.Mark) {
	m.position.Set(float64(at.Pos))
	if p, ok := m.next.(cdc.Positioner); ok {
		p.SetPosition(at)
	}
}

// Publish counts the batch and passes it on.
func (m *streamMetrics) Publish(batch []cdc.Change) {
	if len(batch) == 0 {
		return
	}
	now := time.Now()
	for i := range batch {
		m.changes.WithLabelValues(batch[i].Op.String()).Inc()
		if !batch[i].At.IsZero() {
			m.lag.Observe(now.Sub(batch[i].At).Seconds())
		}
	}
	m.position.Set(float64(batch[len(batch)-1].Pos))
	m.next.Publish(batch)
}

// newRegistry holds the process and Go runtime collectors plus pgfeed's own.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// registerStreamState exposes the stream's readiness and leadership.
func registerStreamState(reg prometheus.Registerer, s *cdc.Stream) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	reg.MustRegister(
		gauge("pgfeed_stream_ready",
			"1 when the change stream is connected and caught up.",
			func() float64 { return b(s.Ready()) }),
		gauge("pgfeed_stream_leader",
			"1 when this instance runs the sequencer.",
			func() float64 { return b(s.Leader()) }),
		gauge("pgfeed_sequencer_idle",
			"1 while the sequencer waits for a writer's NOTIFY (writers NOTIFY only then).",
			func() float64 { return b(s.Stats().Idle) }),
		counter("pgfeed_sequencer_steps_total",
			"Sequencing steps this instance took.",
			func() float64 { return float64(s.Stats().Steps) }),
		counter("pgfeed_sequencer_wakeups_total",
			"NOTIFYs from writers that woke the idle sequencer.",
			func() float64 { return float64(s.Stats().Wakeups) }),
		counter("pgfeed_journal_reads_total",
			"Journal reads; the sequencing instance publishes what its steps return without one.",
			func() float64 { return float64(s.Stats().Reads) }),
		gauge("pgfeed_journal_pruned_position",
			"Highest pruned journal position, as of this instance's last prune: cursors below it cannot resume.",
			func() float64 { return float64(s.Stats().Pruned) }),
		gauge("pgfeed_journal_bytes",
			"Size of the journal's rows (their data as stored), as of this instance's last prune.",
			func() float64 { return float64(s.Stats().JournalBytes) }),
	)
}

// registerServerStats exposes the WebSocket server's counters.
func registerServerStats(reg prometheus.Registerer, srv *ws.Server) {
	stat := func(f func(ws.Stats) int64) func() float64 {
		return func() float64 { return float64(f(srv.Stats())) }
	}
	reg.MustRegister(
		gauge("pgfeed_ws_connections",
			"Open WebSocket connections.",
			stat(func(s ws.Stats) int64 { return s.Conns })),
		gauge("pgfeed_ws_subscriptions",
			"Live subscriptions.",
			stat(func(s ws.Stats) int64 { return s.Subscriptions })),
		counter("pgfeed_ws_changes_total",
			"Changes the server fanned out.",
			stat(func(s ws.Stats) int64 { return s.Changes })),
		counter("pgfeed_ws_delivered_total",
			"Messages queued to clients.",
			stat(func(s ws.Stats) int64 { return s.Delivered })),
		counter("pgfeed_ws_slow_closes_total",
			"Connections closed with 1013 because they fell behind.",
			stat(func(s ws.Stats) int64 { return s.SlowClosed })),
		counter("pgfeed_ws_rejected_total",
			"Upgrades refused (400, 401, 403, 503).",
			stat(func(s ws.Stats) int64 { return s.Rejected })),
		errorsByCode{srv},
	)
}

// errorsByCode exposes the server's error replies as
// pgfeed_ws_errors_total{code}.
type errorsByCode struct{ srv *ws.Server }

var errorsDesc = prometheus.NewDesc("pgfeed_ws_errors_total",
	"Error replies sent to clients, by protocol error code.", []string{"code"}, nil)

func (e errorsByCode) Describe(ch chan<- *prometheus.Desc) { ch <- errorsDesc }

func (e errorsByCode) Collect(ch chan<- prometheus.Metric) {
	st := e.srv.Stats()
	for i, code := range ws.ErrorCodes {
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(st.Errors[i]), code)
	}
}

// gauge and counter are metrics read from f at each scrape.
func gauge(name, help string, f func() float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
}

func counter(name, help string, f func() float64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
}
