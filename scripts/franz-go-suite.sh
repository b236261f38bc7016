#!/usr/bin/env bash
# Runs franz-go's own client test suite (package github.com/twmb/franz-go/pkg/kgo,
# at the version go.mod pins) against a fresh gregor broker: its integration tests
# produce and consume 500k records through ETL chains of consumer groups (range,
# cooperative-sticky, static members) and transactional consume-transform-produce
# sessions, and check that nothing is lost or duplicated. Tests of features gregor
# does not offer (KIP-848 groups, share groups) skip themselves.
# KGO_TEST_RECORDS and GREGOR_BIN pass through; extra arguments go to the test
# binary (e.g. -test.run 'TestGroupETL|TestTxnEtl'). GREGOR_NODES=3 runs the
# suite against a three-node cluster on loopback (combined broker+controller
# nodes, KGO_SEEDS naming all three). GREGOR_KILL_EVERY=60 (seconds, with
# GREGOR_NODES=3) kills one node at random with SIGKILL that often while the suite
# runs and restarts it GREGOR_KILL_DOWN seconds later (5 by default): the kills
# and restarts are listed in the summary.
# On a single node (the default) the broker also has a SASL_PLAINTEXT listener
# with SCRAM-SHA-256 and SCRAM-SHA-512, a SCRAM user is made through the
# PLAINTEXT listener with `gregor users scram set`, and KGO_TEST_SCRAM
# ("user:pass:512") and KGO_TEST_SCRAM_SEEDS (that listener) are passed, so kgo's
# TestSCRAMAuth and TestSCRAMAuthBadCredentials run; GREGOR_SCRAM=0 leaves
# them out (they skip themselves).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-franz-go-suite.XXXXXX")
NODES=${GREGOR_NODES:-1}
KILL_EVERY=${GREGOR_KILL_EVERY:-0}
KILL_DOWN=${GREGOR_KILL_DOWN:-5}
SCRAM=${GREGOR_SCRAM:-1}
[ "$NODES" -gt 1 ] && SCRAM=0
SCRAM_USER=kgo-scram
SCRAM_PASS=kgo-scram-secret
SCRAM_SEEDS=
PIDS=()
KILLER=
cleanup() {
	[ -n "$KILLER" ] && kill "$KILLER" 2>/dev/null && wait "$KILLER" 2>/dev/null
	for f in "$WORK"/node-*.pid; do [ -f "$f" ] && PIDS+=("$(cat "$f")"); done
	for PID in "${PIDS[@]}"; do
		if kill -0 "$PID" 2>/dev/null; then
			kill -TERM "$PID" 2>/dev/null || true
			for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$PID" 2>/dev/null || true
			wait "$PID" 2>/dev/null || true
		fi
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$ROOT"
BIN=${GREGOR_BIN:-}
if [ -z "$BIN" ]; then
	BIN=$WORK/gregor
	go build -o "$BIN" ./cmd/gregor
fi
echo "building franz-go's kgo test binary ($(go list -m -f '{{.Version}}' github.com/twmb/franz-go))"
go test -c -o "$WORK/kgo.test" github.com/twmb/franz-go/pkg/kgo
SRC=$(go list -f '{{.Dir}}' github.com/twmb/franz-go/pkg/kgo)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
if [ "$NODES" -gt 1 ]; then
	VOTERS=
	declare -a CPORTS BPORTS
	for i in $(seq 1 "$NODES"); do
		BPORTS[$i]=$(free_port)
		CPORTS[$i]=$(free_port)
		VOTERS="${VOTERS:+$VOTERS,}$i@127.0.0.1:${CPORTS[$i]}"
	done
	# start_node i: one combined broker+controller node, its pid in node-i.pid.
	start_node() {
		"$BIN" broker --data-dir "$WORK/data-$1" \
			--listen "PLAINTEXT://127.0.0.1:${BPORTS[$1]},CONTROLLER://127.0.0.1:${CPORTS[$1]}" \
			--set node.id="$1" --set process.roles=broker,controller --set controller.listener.names=CONTROLLER \
			--set controller.quorum.voters="$VOTERS" --set listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT \
			--set group.initial.rebalance.delay.ms=0 >>"$WORK/broker-$1.out" 2>>"$WORK/broker-$1.err" &
		echo $! >"$WORK/node-$1.pid"
	}
	for i in $(seq 1 "$NODES"); do
		start_node "$i"
		PIDS+=("$(cat "$WORK/node-$i.pid")")
	done
elif [ "$SCRAM" = 1 ]; then
	# PLAINTEXT first: the ready line names it, and the suite's KGO_SEEDS use it.
	# (The ports are picked here: a background command expands its words in
	# the child, after the loop below has started looking for its output.)
	SCRAM_SEEDS=127.0.0.1:$(free_port)
	PLAIN_PORT=$(free_port)
	"$BIN" broker --listen "PLAINTEXT://127.0.0.1:$PLAIN_PORT,SASL_PLAINTEXT://$SCRAM_SEEDS" --data-dir "$WORK/data-1" \
		--set sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512 --set group.initial.rebalance.delay.ms=0 \
		>"$WORK/broker-1.out" 2>"$WORK/broker-1.err" &
	PIDS+=($!)
else
	"$BIN" broker --listen 127.0.0.1:0 --data-dir "$WORK/data-1" --set group.initial.rebalance.delay.ms=0 \
		>"$WORK/broker-1.out" 2>"$WORK/broker-1.err" &
	PIDS+=($!)
fi
ADDR=
for i in $(seq 1 "$NODES"); do
	A=
	for _ in $(seq 1 600); do
		A=$(sed -n 's/.* ready on \([^ ]*\).*/\1/p' "$WORK/broker-$i.out" 2>/dev/null | head -n 1 || true)
		[ -n "$A" ] && break
		kill -0 "${PIDS[$((i - 1))]}" 2>/dev/null || { echo "gregor node $i exited before it was ready:" >&2; cat "$WORK/broker-$i.err" >&2; exit 1; }
		sleep 0.1
	done
	[ -n "$A" ] || { echo "gregor node $i not ready after 60s" >&2; cat "$WORK/broker-$i.err" >&2; exit 1; }
	ADDR="${ADDR:+$ADDR,}$A"
done
SCRAM_ENV=()
if [ -n "$SCRAM_SEEDS" ]; then
	echo "$SCRAM_PASS" | "$BIN" --brokers "$ADDR" users scram set "$SCRAM_USER" \
		--mechanism SCRAM-SHA-256,SCRAM-SHA-512 --password-stdin >/dev/null
	SCRAM_ENV=(KGO_TEST_SCRAM="$SCRAM_USER:$SCRAM_PASS:512" KGO_TEST_SCRAM_SEEDS="$SCRAM_SEEDS")
	echo "SCRAM-SHA-512 user $SCRAM_USER on the SASL_PLAINTEXT listener $SCRAM_SEEDS (KGO_TEST_SCRAM_SEEDS)"
fi
echo "gregor ready on $ADDR; running the suite (a few minutes; log in $WORK/suite.log until the end)"

# The nemesis: every KILL_EVERY seconds, SIGKILL a random node and restart it
# KILL_DOWN seconds later, logging each kill to kills.log.
if [ "$KILL_EVERY" -gt 0 ] && [ "$NODES" -gt 1 ]; then
	(
		trap 'exit 0' TERM
		while true; do
			sleep "$KILL_EVERY" &
			wait $!
			i=$((RANDOM % NODES + 1))
			kill -KILL "$(cat "$WORK/node-$i.pid")" 2>/dev/null || true
			echo "$(date -u +%T) killed node $i (kill -9)" >>"$WORK/kills.log"
			sleep "$KILL_DOWN" &
			wait $!
			start_node "$i"
			echo "$(date -u +%T) restarted node $i" >>"$WORK/kills.log"
		done
	) &
	KILLER=$!
	echo "killing a random node every ${KILL_EVERY}s (down for ${KILL_DOWN}s)"
fi

# Some tests read kgo's sources, so the binary runs in the package's directory.
set +e
(cd "$SRC" && env "${SCRAM_ENV[@]}" KGO_SEEDS=$ADDR KGO_TEST_RF=${KGO_TEST_RF:-1} "$WORK/kgo.test" -test.v -test.timeout 20m "$@") >"$WORK/suite.log" 2>&1
STATUS=$?
set -e
if [ -n "$KILLER" ]; then
	kill "$KILLER" 2>/dev/null || true
	wait "$KILLER" 2>/dev/null || true
	KILLER=
	echo "nemesis: $(grep -c killed "$WORK/kills.log" 2>/dev/null || echo 0) kills during the suite"
	cat "$WORK/kills.log" 2>/dev/null || true
fi
mkdir -p "$ROOT/bin" && cp "$WORK/suite.log" "$ROOT/bin/franz-go-suite.log" # kept for reading after a failure
for i in $(seq 1 "$NODES"); do cp "$WORK/broker-$i.err" "$ROOT/bin/franz-go-suite-broker-$i.log" 2>/dev/null || true; done
pass=$(grep -c -- '--- PASS' "$WORK/suite.log" || true)
fail=$(grep -c -- '--- FAIL' "$WORK/suite.log" || true)
skip=$(grep -c -- '--- SKIP' "$WORK/suite.log" || true)
if [ "$STATUS" -ne 0 ]; then
	grep -B2 -A20 -- '--- FAIL' "$WORK/suite.log" | tail -n 120
	for i in $(seq 1 "$NODES"); do
		echo "--- broker $i log (last 30 lines)"
		tail -n 30 "$WORK/broker-$i.err"
	done
fi
if [ -n "$SCRAM_SEEDS" ]; then
	grep -E -- '--- (PASS|FAIL|SKIP): TestSCRAM' "$WORK/suite.log" || echo "kgo's SCRAM tests did not run"
fi
echo "franz-go kgo suite against gregor ($NODES node(s)): $pass passed, $fail failed, $skip skipped (exit $STATUS)"
exit "$STATUS"
