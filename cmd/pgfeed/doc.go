// Command pgfeed streams the changes of PostgreSQL tables to WebSocket
// clients speaking the Directus realtime protocol.
//
//	pgfeed serve                     serve /websocket, /, /healthz, /readyz, /metrics
//	pgfeed dev                       local PostgreSQL (unless DATABASE_URL), demo table and page
//	pgfeed migrate up|down|version   install, remove or show pgfeed's schema
//	pgfeed track|untrack TABLE...    start or stop capturing a table's changes
//	pgfeed tables                    list tracked tables
//
// main only builds a Main and calls ParseFlags, Run and Close, so that tests
// can drive the same code. Config (config.go) holds every setting, each
// from a flag or its environment variable. This package only wires the
// others together: store (SQL), cdc (the change stream), ws (the WebSocket
// server) and query (subscriptions); the logger is built once here and
// handed down.
package main
