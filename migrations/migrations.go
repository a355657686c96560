// Package migrations holds pgfeed's SQL migrations in golang-migrate's format
// (NNNN_name.up.sql / NNNN_name.down.sql). They are embedded into the binary
// and work with the migrate CLI too:
//
//	migrate -path migrations -database "$DATABASE_URL" up
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
