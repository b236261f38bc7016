# Gregor's build. `make test` is what CI runs.
#
# Two modules: the library and binary at the root (go.mod), and integration/
# (integration/go.mod, replacing the root module with ../): the end-to-end
# tests, the clients only tests and benchmarks need (sarama, kafka-go, goka)
# and the benchmark programs. Every target below covers both; a go command
# for the second runs in $(INTEG).
GO        ?= go
INTEG     := integration
FUZZTIME  ?= 10s
BENCHTIME ?= 1x
CLEANBENCH_MB ?= 600
# staticcheck, built from the module proxy at a pinned version (one that
# knows the Go release in go.mod): its default checks, less what a
# staticcheck.conf turns off for its directory (connect/staticcheck.conf).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
CHAOS_DURATION ?= 5m

.PHONY: build test test-unit test-integration chaos bench fuzz lint conformance conformance-cluster franz-go-suite franz-go-suite-cluster franz-go-suite-nemesis clean

build: ## build the gregor binary into bin/
	$(GO) build -o bin/gregor ./cmd/gregor

test: lint test-unit test-integration ## what CI runs: lint, unit tests (race), integration tests

# Unit tests: the root module, and the integration module's packages that need
# no gregor binary (everything but the integration package itself).
test-unit:
	$(GO) test -race -count=1 -timeout 1200s ./...
	cd $(INTEG) && $(GO) test -race -count=1 -timeout 1200s $$($(GO) list ./... | grep -v '/integration$$')

test-integration: build
	cd $(INTEG) && GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) test -count=1 -timeout 1500s .

chaos: build ## the chaos tests with CHAOS_DURATION of faults each (histories kept in bin/chaos)
	mkdir -p bin/chaos
	cd $(INTEG) && GREGOR_BIN=$(CURDIR)/bin/gregor GREGOR_CHAOS_DURATION=$(CHAOS_DURATION) GREGOR_CHAOS_HISTORY=$(CURDIR)/bin/chaos \
		$(GO) test -count=1 -timeout 0 -v -run 'Chaos|TestReplication' .

bench: build ## side-by-side figures: gregor vs franz-go's kfake, state stores vs goka, RF 3 vs RF 1
	@echo "== partition log: append, read, clean"
	$(GO) test -run '^$$' -bench . -benchtime 1s ./broker/log/
	@echo "== state stores vs goka's storage"
	$(GO) test -run '^$$' -bench . -benchtime 1s ./state/...
	cd $(INTEG) && $(GO) test -run '^$$' -bench . -benchtime 1s ./statebench/
	@echo "== state restore from a gregor changelog vs goka's table recovery, one run"
	cd $(INTEG) && GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./cmd/restorebench -rounds 3
	cd $(INTEG) && GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./cmd/restorebench -rounds 3 -random
	@echo "== broker: gregor (os, durable) vs kfake, one run"
	cd $(INTEG) && GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./cmd/benchcompare
	@echo "== security: produce and consume over SASL_SSL (SCRAM-SHA-512) vs PLAINTEXT, one run"
	cd $(INTEG) && GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) test -run '^$$' -bench SecureThroughput -benchtime 1x .
	@echo "== consumer groups: gregor vs kfake (join, leave, OffsetCommit rate)"
	cd $(INTEG) && GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./cmd/groupbench -rounds 7 -commit-secs 2s
	@echo "== log cleaner: MB/s on a dirty log, produce while cleaning vs idle"
	cd $(INTEG) && GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./cmd/cleanbench -dirty-mb $(CLEANBENCH_MB)
	@echo "== transactions: transactional vs idempotent produce"
	cd $(INTEG) && GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./cmd/txnbench
	@echo "== replication: produce with RF 3 acks=all vs RF 1 on one 3-node cluster, one run"
	cd $(INTEG) && GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./cmd/replbench
	@echo "== streams: wordcount vs goka vs a bare franz-go counter"
	cd $(INTEG) && $(GO) test -run '^$$' -bench WordCount -benchtime 1x -timeout 900s ./wordcountbench/
	@echo "== streams: windowed count and stream-table join, exactly_once_v2 vs at_least_once"
	$(GO) test -run '^$$' -bench EOS -benchtime 1x -timeout 900s ./streams/internal/eosbench/
	@echo "== connect: datagen -> topic and topic -> file vs bare franz-go"
	cd $(INTEG) && GREGOR_BIN=$(CURDIR)/bin/gregor $(GO) run ./cmd/connectbench

fuzz: ## a short run of every fuzz target, in both modules
	@set -e; for mod in . $(INTEG); do \
		for pkg in $$(cd $$mod && $(GO) list ./...); do \
			for f in $$(cd $$mod && $(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
				echo "fuzz $$pkg $$f"; (cd $$mod && $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg); \
			done; \
		done; \
	done

lint: ## gofmt, go vet, staticcheck, go mod tidy -diff (both modules) and the layout rules (internal/archtest)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd $(INTEG) && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	cd $(INTEG) && $(GO) run $(STATICCHECK) ./...
	$(GO) mod tidy -diff
	cd $(INTEG) && $(GO) mod tidy -diff
	$(GO) test -count=1 ./internal/archtest

conformance: build ## run ../shared/conformance against a fresh broker
	GREGOR_BIN=$(CURDIR)/bin/gregor ./scripts/conformance.sh

conformance-cluster: build ## the same kit against a fresh three-node cluster (RF 3)
	GREGOR_BIN=$(CURDIR)/bin/gregor GREGOR_NODES=3 ./scripts/conformance.sh

franz-go-suite: build ## run franz-go's own kgo test suite against a fresh broker, its SCRAM tests on a SASL_PLAINTEXT listener (a few minutes; GREGOR_SCRAM=0 leaves them out)
	GREGOR_BIN=$(CURDIR)/bin/gregor ./scripts/franz-go-suite.sh

franz-go-suite-cluster: build ## the same suite against a three-node cluster (KGO_SEEDS names all three)
	GREGOR_BIN=$(CURDIR)/bin/gregor GREGOR_NODES=3 ./scripts/franz-go-suite.sh

franz-go-suite-nemesis: build ## the suite on three nodes with RF 3 while a random node is killed (-9) and restarted every minute
	GREGOR_BIN=$(CURDIR)/bin/gregor GREGOR_NODES=3 KGO_TEST_RF=3 GREGOR_KILL_EVERY=$${GREGOR_KILL_EVERY:-60} ./scripts/franz-go-suite.sh

clean:
	rm -rf bin
