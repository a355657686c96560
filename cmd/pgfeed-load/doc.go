// Command pgfeed-load measures pgfeed end to end: it opens N subscriber
// connections (spread over 127.0.0.x source addresses and, with -procs,
// over several processes, since one process cannot hold much more than
// 19,000 sockets here), subscribes them to create events of several
// collections (-per subscribers each), inserts rows into PostgreSQL at a
// given rate, and reports the latency from the row's clock_timestamp() to
// its arrival at each client (p50, p99, max), the messages delivered per
// second, and the server's resident memory per connection (VmRSS of the
// process given by -server-pid, before and after connecting).
//
// It stops by itself after -duration. Typical use, against a running
// `pgfeed serve --auth-mode public`:
//
//	pgfeed-load -db "$DATABASE_URL" -url ws://127.0.0.1:8101/websocket \
//	    -setup -n 10000 -per 100 -rate 1000 -duration 30s -procs 4 \
//	    -server-pid "$(pgrep -n pgfeed)"
//
// -setup creates and tracks the tables load_0 .. load_{n/per-1}
// (id bigserial primary key, sent_at timestamptz, body text).
package main
