# Gregor's build. `make test` is what CI runs.
GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1x
CLEANBENCH_MB ?= 600

.PHONY: build test test-unit test-integration bench fuzz lint conformance franz-go-suite clean

build: ## build the gregor binary into bin/
	$(GO) build -o bin/gregor ./cmd/gregor

test: lint test-unit test-integration ## what CI runs: lint, unit tests (race), integration tests

test-unit:
	$(GO) test -race -count=1 -timeout 600s $$($(GO) list ./... | grep -v /integration)

test-integration: build
	GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) test -count=1 -timeout 900s ./integration/...

bench: build ## side-by-side figures: gregor vs franz-go's kfake, state stores vs goka
	@echo "== partition log: append, read, clean"
	$(GO) test -run '^$$' -bench . -benchtime 1s ./broker/log/
	@echo "== state stores vs goka's storage"
	$(GO) test -run '^$$' -bench . -benchtime 1s ./state/...
	@echo "== state restore from a gregor changelog vs goka's table recovery, one run"
	GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./integration/cmd/restorebench -rounds 3
	GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./integration/cmd/restorebench -rounds 3 -random
	@echo "== broker: gregor (os, durable) vs kfake, one run"
	GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./integration/cmd/benchcompare
	@echo "== consumer groups: gregor vs kfake (join, leave, OffsetCommit rate)"
	GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./integration/cmd/groupbench -rounds 7 -commit-secs 2s
	@echo "== log cleaner: MB/s on a dirty log, produce while cleaning vs idle"
	GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./integration/cmd/cleanbench -dirty-mb $(CLEANBENCH_MB)
	@echo "== transactions: transactional vs idempotent produce"
	GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./integration/cmd/txnbench
	@echo "== streams: wordcount vs goka vs a bare franz-go counter"
	$(GO) test -run '^$$' -bench WordCount -benchtime 1x -timeout 900s ./streams/internal/wordcountbench/
	@echo "== streams: windowed count and stream-table join, exactly_once_v2 vs at_least_once"
	$(GO) test -run '^$$' -bench EOS -benchtime 1x -timeout 900s ./streams/internal/eosbench/
	@echo "== connect: datagen -> topic and topic -> file vs bare franz-go"
	GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./integration/cmd/connectbench

fuzz: ## a short run of every fuzz target
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

conformance: build ## run ../shared/conformance against a fresh broker
	./scripts/conformance.sh

franz-go-suite: build ## run franz-go's own kgo test suite against a fresh broker (a few minutes)
	GREGOR_BIN=$(CURDIR)/bin/gregor ./scripts/franz-go-suite.sh

clean:
	rm -rf bin
