# eventstored — build, run and test targets. `make run` and `make test` are
# all a newcomer needs (see README.md).

GO      ?= go
BIN     ?= bin
COMMIT  := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
COMMIT_TIME := $(shell git log -1 --format=%cI 2>/dev/null)
LDFLAGS := -X main.commit=$(COMMIT) -X main.commitTime=$(COMMIT_TIME)
# Extra arguments for `make run`, e.g. RUN_ARGS="--ext-http-port 2114".
RUN_ARGS ?=
# Go sources, excluding npm-installed trees used by interop tests.
GOFILES = $(shell find . -name '*.go' -not -path '*/node_modules/*' -not -path './.git/*')

.PHONY: all build run test test-long test-partition bench bench-cluster bench-failover bench-peers lint fmt-check vet clean

all: build

# bin/eventstored, and bin/esbench once bench/cmd/esbench exists.
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/eventstored ./cmd/eventstored
	@if [ -d bench/cmd/esbench ]; then \
		echo "$(GO) build -o $(BIN)/esbench ./bench/cmd/esbench"; \
		$(GO) build -o $(BIN)/esbench ./bench/cmd/esbench; \
	fi

# A single node on the embedded defaults: data in ./data, external TCP 1113
# and HTTP 2113 on 127.0.0.1, user admin/changeit. Ctrl-C stops it cleanly.
run: build
	$(BIN)/eventstored --db ./data $(RUN_ARGS)

# Everything CI runs (.ci/run calls this and nothing else). Tests that need
# npm packages install them themselves.
# The zero-allocation proofs live in `!race` files (the race detector
# allocates), so they get their own quick pass without -race first.
test: fmt-check vet
	$(GO) test -count=1 -run 'Allocat|Alloc' ./...
	$(GO) test -race -timeout 18m ./...

# Soak, fuzz and large-volume tests (files tagged //go:build long).
test-long:
	$(GO) test -tags long -timeout 120m ./...

# Process-level cluster tests in network namespaces (needs root and ip;
# they skip with the reason otherwise; make test runs them too): a node
# per namespace, the master's internal link cut while clients write, the
# history checked with porcupine; the --max-truncation refusal. ~30 s.
test-partition:
	$(GO) test -count=1 -v -run 'Netns|Partition|MaxTruncation' ./cmd/eventstored/clustertest

# Replicated appends on a 3-node cluster of bin/eventstored on
# 127.0.0.1-3 (16 and 256 clients on the master); BENCH_ARGS go to
# `esbench cluster`.
bench-cluster: build
	$(BIN)/esbench cluster --clients 16,256 $(BENCH_ARGS)

# Failover figures: kill -9 of the master 20 times under write load.
bench-failover: build
	$(BIN)/esbench cluster --clients '' --failovers 20 $(BENCH_ARGS)

# The standard benchmark suite of bin/esbench (it starts its own node from
# bin/eventstored, plus the peers it finds); without bench/cmd/esbench, the
# Go micro-benchmarks (*_timing_test.go). BENCH_ARGS go to `esbench suite`.
bench: build
	@if [ -x $(BIN)/esbench ]; then \
		$(BIN)/esbench suite $(BENCH_ARGS); \
	else \
		$(GO) test -run '^$$' -bench . -benchmem ./...; \
	fi

# Installs the servers `make bench` compares with (Redis, PostgreSQL, NATS
# JetStream); see bench/README.md.
bench-peers:
	bash bench/peers/install.sh

# gofmt, go vet and staticcheck (pinned; installed into bin/ on first use).
STATICCHECK_VERSION := v0.8.2
lint: fmt-check vet
	@if [ ! -x $(BIN)/staticcheck ]; then \
		echo "installing staticcheck $(STATICCHECK_VERSION) into $(BIN)/"; \
		GOBIN=$(CURDIR)/$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); \
	fi
	$(BIN)/staticcheck ./...

fmt-check:
	@out="$$(gofmt -l $(GOFILES))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
