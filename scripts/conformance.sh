#!/usr/bin/env bash
# Runs the shared conformance kit (../shared/conformance, beside this repository)
# against a fresh gregor broker: builds gregor, starts it on a free loopback port
# with a temporary data directory, runs the kit, stops the broker and exits with
# the kit's status. Extra environment (PROBE_SUITES, PROBE_CONFORM_ARGS) passes
# through to the kit. GREGOR_BIN picks a prebuilt binary.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIT=${CONFORMANCE_KIT:-$ROOT/../shared/conformance}
[ -x "$KIT/run" ] || { echo "conformance kit not found at $KIT" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-conformance.XXXXXX")
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BIN=${GREGOR_BIN:-}
if [ -z "$BIN" ]; then
	BIN=$WORK/gregor
	(cd "$ROOT" && go build -o "$BIN" ./cmd/gregor)
fi

# A free loopback port: a random one nobody answers on. (The broker must be told
# its real port, since it advertises it.) If another process takes it first,
# the broker fails to bind and we try another.
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

start_broker() {
	PORT=$(free_port) || { echo "no free port" >&2; return 1; }
	ADDR=127.0.0.1:$PORT
	"$BIN" broker --listen "$ADDR" --data-dir "$WORK/data" >"$WORK/broker.out" 2>"$WORK/broker.err" &
	PID=$!
	for _ in $(seq 1 300); do
		grep -q " ready on " "$WORK/broker.out" 2>/dev/null && return 0
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID" 2>/dev/null || true
			PID=
			return 1
		fi
		sleep 0.1
	done
	echo "gregor not ready after 30s" >&2
	return 1
}

started=
for _ in 1 2 3; do
	if start_broker; then started=1; break; fi
	grep -q "address already in use" "$WORK/broker.err" || break
done
if [ -z "$started" ]; then
	echo "gregor did not start:" >&2
	cat "$WORK/broker.err" >&2
	exit 1
fi
echo "gregor ready on $ADDR (data $WORK/data)"

set +e
"$KIT/run" "$ADDR"
STATUS=$?
set -e

if [ "$STATUS" -ne 0 ]; then
	echo "--- broker log (last 50 lines)"
	tail -n 50 "$WORK/broker.err"
fi
exit "$STATUS"
