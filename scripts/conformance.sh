#!/usr/bin/env bash
# Runs the shared conformance kit (../shared/conformance, beside this repository)
# against a fresh gregor broker: builds gregor, starts it on a free loopback port
# with a temporary data directory, runs (a private copy of) the kit, stops the
# broker and exits with the kit's status. Extra environment (PROBE_SUITES, PROBE_CONFORM_ARGS) passes
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

# Port 0: the kernel picks a free port, the broker advertises the bound one and
# prints it in its ready line ("gregor broker VERSION ready on ADDR (...)").
"$BIN" broker --listen 127.0.0.1:0 --data-dir "$WORK/data" >"$WORK/broker.out" 2>"$WORK/broker.err" &
PID=$!
ADDR=
for _ in $(seq 1 300); do
	ADDR=$(sed -n 's/.* ready on \([^ ]*\).*/\1/p' "$WORK/broker.out" 2>/dev/null | head -n 1)
	[ -n "$ADDR" ] && break
	kill -0 "$PID" 2>/dev/null || { echo "gregor exited before it was ready:" >&2; cat "$WORK/broker.err" >&2; exit 1; }
	sleep 0.1
done
[ -n "$ADDR" ] || { echo "gregor not ready after 30s" >&2; cat "$WORK/broker.err" >&2; exit 1; }
echo "gregor ready on $ADDR (data $WORK/data)"

# Run a private copy of the kit: it writes its binaries and logs beside its run
# script, and two runs sharing ../shared/conformance/logs would mix their results.
mkdir -p "$WORK/kit"
(cd "$KIT" && tar --exclude=./bin --exclude=./logs -cf - .) | tar -xf - -C "$WORK/kit"

set +e
"$WORK/kit/run" "$ADDR"
STATUS=$?
set -e

if [ "$STATUS" -ne 0 ]; then
	echo "--- broker log (last 50 lines)"
	tail -n 50 "$WORK/broker.err"
fi
exit "$STATUS"
