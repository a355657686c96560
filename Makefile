# pgfeed: `make run` to try it, `make test` to check everything.
# `make test` works on a fresh Debian machine as root with no terminal: it
# installs what is missing (Chromium, PgBouncer, the Node packages of the
# e2e tests, PostgreSQL server binaries) and needs no Docker.

GO            ?= go
BIN           := bin
NODE_DIR      := e2e/node
CHROMIUM      := /usr/bin/chromium
PGBOUNCER     := /usr/sbin/pgbouncer
# A count, not a duration, for the short run in `make test`: when a
# duration runs out while a worker is mid-input on a loaded machine, go test
# can fail with "context deadline exceeded" though it found nothing.
FUZZTIME      ?= 20000x
LONG_FUZZTIME ?= 5m
TEST_TIMEOUT  ?= 15m
STATICCHECK   ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
APT           := DEBIAN_FRONTEND=noninteractive $(shell [ "$$(id -u)" = 0 ] || echo sudo -E) apt-get

export CI

.PHONY: all build run test unit fuzz-short fuzz fuzz-run bench lint vet deps node-deps chromium pgbouncer postgres clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# run starts a local PostgreSQL under .pgfeed/ (unless DATABASE_URL is set),
# installs pgfeed and a demo table, and serves the demo page.
run: build
	./$(BIN)/pgfeed dev

# test is what CI runs (.ci/run).
test: deps vet unit fuzz-short

vet:
	$(GO) vet ./...

# unit runs every Go test with the race detector: unit tests, PostgreSQL
# integration tests, and the e2e tests (CLI, Go WebSocket client,
# @directus/sdk under Node.js, Chromium on the demo page).
unit:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# fuzz-short runs every fuzz target briefly; fuzz runs them for long.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz-run FUZZ_FOR=$(FUZZTIME)

fuzz:
	@$(MAKE) --no-print-directory fuzz-run FUZZ_FOR=$(LONG_FUZZTIME)

fuzz-run:
	@set -e; for f in $$(grep -l '^func Fuzz' $$(find . -name '*_test.go' -not -path './e2e/node/*')); do \
		dir=$$(dirname $$f); \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$dir $$t for $(FUZZ_FOR)"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZ_FOR) $$dir; \
		done; \
	done

# bench runs every go test benchmark, then pgfeed-bench (capture overhead
# of writers, tracked against untracked, and commit-to-stream latency) on a
# PostgreSQL of its own. The end-to-end load tool is in the README.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 60m ./...
	./$(BIN)/pgfeed-bench

# lint: gofmt, go vet, and staticcheck when the module proxy can provide it.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	@if GOBIN=$(CURDIR)/$(BIN) $(GO) install $(STATICCHECK) 2>/dev/null; then \
		./$(BIN)/staticcheck ./...; \
	else echo "staticcheck not installable here; skipped"; fi

deps: node-deps chromium pgbouncer postgres

node-deps: $(NODE_DIR)/node_modules/.package-lock.json

$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error

chromium:
	@test -x $(CHROMIUM) || { $(APT) update -q && $(APT) install -y -q chromium; }

pgbouncer:
	@command -v pgbouncer >/dev/null || test -x $(PGBOUNCER) || { $(APT) update -q && $(APT) install -y -q pgbouncer; }

postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ $(APT) update -q && $(APT) install -y -q postgresql; }

# clean stops a leftover `pgfeed dev` cluster and removes everything built
# or downloaded.
clean:
	@pidfile=.pgfeed/pg/data/postmaster.pid; if [ -f $$pidfile ]; then \
		pid=$$(head -1 $$pidfile); kill -INT $$pid 2>/dev/null || true; \
		for i in $$(seq 50); do kill -0 $$pid 2>/dev/null || break; sleep 0.2; done; \
	fi
	rm -rf $(BIN) .pgfeed e2e/artifacts $(NODE_DIR)/node_modules
