package main

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed web
var webFS embed.FS

// readiness is what /readyz asks: is the change stream connected and caught
// up.
type readiness interface{ Ready() bool }

// newHandler serves everything but /websocket: the demo page at /, health
// and readiness probes, and Prometheus metrics. extra routes (the dev
// endpoints) are added to the same mux.
func newHandler(ready readiness, reg *prometheus.Registry, extra map[string]http.Handler) http.Handler {
	mux := http.NewServeMux()
	web, _ := fs.Sub(webFS, "web")
	mux.Handle("GET /", noCache(http.FileServerFS(web)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("change stream not connected or catching up\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	for pattern, h := range extra {
		mux.Handle(pattern, h)
	}
	return mux
}

// noCache keeps browsers from holding on to an old demo page across
// upgrades.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
