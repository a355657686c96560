// Package ws is pgfeed's WebSocket server: the upgrade, an epoll event
// loop, per-connection state, the Directus realtime protocol (PROTOCOL.md)
// and the fan-out hub.
//
// # Connections
//
// Serve accepts TCP connections and reads the request line: GET /websocket
// is upgraded with gobwas/ws (400 for a malformed upgrade, 403 for a
// forbidden Origin, 401 in strict mode without a valid token, 503 at
// Config.MaxConns); any other path is served by Config.HTTP through an
// internal net/http server. An upgraded connection is registered with epoll
// (one-shot) and holds no goroutine while idle: a small pool of workers reads
// what a readable socket holds without blocking, keeps a partial frame for
// the next wake-up, and handles whole messages. Writes go to a bounded
// per-connection queue flushed in one write by a writer pool; a socket that
// cannot take its queue gets a goroutine of its own until it drains, and a
// queue that overflows closes the connection with 1013 "slow consumer".
//
// # Subscriptions
//
// A subscribe is validated on the worker, then started in a goroutine of its
// own (it may read the database) while the connection keeps being served:
//
//   - the subscription registers with the hub at the hub's position h0 and
//     from then on buffers every published change of its collection;
//   - without "event", init carries a snapshot taken at position S >= h0 and
//     the cursor S; with "event", init has no data and the cursor h0;
//   - with "since" (a cursor the journal can resume from: see
//     Backend.Resumable), init has no data, "cursor" is the client's cursor
//     and "recovered":true; the journal is replayed from the cursor up to
//     h0; with another cursor (below the pruned position, or from positions
//     the database lost, or naming a change that its position no longer
//     holds: see cursor), init is as without "since" plus
//     "recovered":false;
//   - then the buffered changes above the position reached are delivered and
//     the subscription goes live, in order, without gaps or duplicates.
//
// # Messages
//
// Keys appear in one fixed order: type, event, data, old, reason, uid,
// cursor, recovered. Events are sent per change (one statement's rows of
// one collection); "data" holds rows projected to the subscription's fields
// (create, update) or primary keys (delete: the value, or an object for a
// composite key). Filters apply to new rows for create and update and to old
// rows for delete. An update whose old row matched and whose new row does not
// is a {"event":"delete","reason":"leave"} and is sent to subscriptions that
// take delete events; one that newly matches is an update. "old" (with
// "old":true) holds the previous values, projected alike. Every message of
// a subscription has a cursor of its own (see partCursor).
//
// # Authentication
//
// A valid token given at the upgrade (?access_token=, Authorization:
// Bearer, or the Config.TokenCookie cookie) authenticates in any mode; an
// invalid one is ignored except in strict mode (401). In handshake mode a
// connection must authenticate within Config.AuthTimeout: until then every
// message but auth and ping gets AUTH_FAILED; a bad token gets AUTH_FAILED
// (TOKEN_EXPIRED when expired) and may be retried; at the timeout the client
// gets AUTH_TIMEOUT and close 1008. When a token expires the client gets
// TOKEN_EXPIRED; in handshake and strict mode its events pause (events in
// the pause are not queued: resume with "since") until a fresh auth, or
// AUTH_TIMEOUT and close 1008 after Config.AuthTimeout; in public mode the
// connection falls back to the public role.
//
// # Heartbeat and limits
//
// The server sends {"type":"ping"} every Config.Heartbeat and closes (1000)
// a connection that sent nothing since the previous ping. Inbound messages
// are rate limited (REQUESTS_EXCEEDED), subscriptions per connection capped
// (LIMIT_EXCEEDED), frames bounded (close 1009).
//
// # Concurrency
//
// All Server methods are safe for concurrent use. Publish is called by one
// goroutine (the stream); it never blocks on a client: per subscriber it
// checks the event and filter and appends to that connection's queue, with
// no allocation in steady state; each connection's writer is woken once per
// published batch. Snapshots read the database through Backend, at most
// Config.Snapshots at a time; store.DB takes two pool connections per
// snapshot, so the pool must be larger than twice that.
package ws
