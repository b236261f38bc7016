#!/usr/bin/env bash
# Runs the shared conformance kit (../shared/conformance, beside this repository)
# against a fresh gregor broker: builds gregor, starts it on a free loopback port
# with a temporary data directory, runs (a private copy of) the kit, stops the
# broker and exits with the kit's status. Extra environment (PROBE_SUITES, PROBE_CONFORM_ARGS) passes
# through to the kit. GREGOR_BIN picks a prebuilt binary. GREGOR_NODES=3 runs it
# against a three-node cluster on loopback instead (combined broker+controller
# nodes; the kit gets all three as seeds and "-rf 3").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIT=${CONFORMANCE_KIT:-$ROOT/../shared/conformance}
[ -x "$KIT/run" ] || { echo "conformance kit not found at $KIT" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-conformance.XXXXXX")
NODES=${GREGOR_NODES:-1}
PIDS=()
cleanup() {
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

BIN=${GREGOR_BIN:-}
if [ -z "$BIN" ]; then
	BIN=$WORK/gregor
	(cd "$ROOT" && go build -o "$BIN" ./cmd/gregor)
fi

# One node listens on port 0: the kernel picks a free port, the broker
# advertises the bound one and prints it in its ready line ("gregor broker
# VERSION ready on ADDR (...)"). Cluster nodes need their ports up front
# (the voters list names them).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
if [ "$NODES" -gt 1 ]; then
	VOTERS=
	declare -a CPORTS BPORTS
	for i in $(seq 1 "$NODES"); do
		BPORTS[$i]=$(free_port)
		CPORTS[$i]=$(free_port)
		VOTERS="${VOTERS:+$VOTERS,}$i@127.0.0.1:${CPORTS[$i]}"
	done
	for i in $(seq 1 "$NODES"); do
		"$BIN" broker --data-dir "$WORK/data-$i" \
			--listen "PLAINTEXT://127.0.0.1:${BPORTS[$i]},CONTROLLER://127.0.0.1:${CPORTS[$i]}" \
			--set node.id="$i" --set controller.listener.names=CONTROLLER \
			--set controller.quorum.voters="$VOTERS" --set listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT \
			>"$WORK/broker-$i.out" 2>"$WORK/broker-$i.err" &
		PIDS+=($!)
	done
	export PROBE_CONFORM_ARGS="-rf $NODES ${PROBE_CONFORM_ARGS:-}"
else
	"$BIN" broker --listen 127.0.0.1:0 --data-dir "$WORK/data-1" >"$WORK/broker-1.out" 2>"$WORK/broker-1.err" &
	PIDS+=($!)
fi
ADDR=
for i in $(seq 1 "$NODES"); do
	A=
	for _ in $(seq 1 600); do
		A=$(sed -n 's/.* ready on \([^ ]*\).*/\1/p' "$WORK/broker-$i.out" 2>/dev/null | head -n 1)
		[ -n "$A" ] && break
		kill -0 "${PIDS[$((i - 1))]}" 2>/dev/null || { echo "gregor node $i exited before it was ready:" >&2; cat "$WORK/broker-$i.err" >&2; exit 1; }
		sleep 0.1
	done
	[ -n "$A" ] || { echo "gregor node $i not ready after 60s" >&2; cat "$WORK/broker-$i.err" >&2; exit 1; }
	ADDR="${ADDR:+$ADDR,}$A"
done
echo "gregor ready on $ADDR (data in $WORK)"

# Run a private copy of the kit: it writes its binaries and logs beside its run
# script, and two runs sharing ../shared/conformance/logs would mix their results.
mkdir -p "$WORK/kit"
(cd "$KIT" && tar --exclude=./bin --exclude=./logs -cf - .) | tar -xf - -C "$WORK/kit"

set +e
"$WORK/kit/run" "$ADDR"
STATUS=$?
set -e

if [ "$STATUS" -ne 0 ]; then
	for i in $(seq 1 "$NODES"); do
		echo "--- broker $i log (last 50 lines)"
		tail -n 50 "$WORK/broker-$i.err"
	done
fi
exit "$STATUS"
