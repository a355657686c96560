// Package e2e holds black-box tests of pgfeed: they build the pgfeed binary,
// run it against a real PostgreSQL (see store/storetest), and talk to it the
// way users do: the command line, a Go WebSocket client, the official
// @directus/sdk realtime client under Node.js (e2e/node), and Chromium on
// the demo page. Screenshots land in e2e/artifacts/.
//
// The tests need node and npm (with `npm ci` run in e2e/node) and
// /usr/bin/chromium; `make test` installs what is missing.
package e2e
