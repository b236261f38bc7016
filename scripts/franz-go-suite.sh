#!/usr/bin/env bash
# Runs franz-go's own client test suite (package github.com/twmb/franz-go/pkg/kgo,
# at the version go.mod pins) against a fresh gregor broker: its integration tests
# produce and consume 500k records through ETL chains of consumer groups (range,
# cooperative-sticky, static members) and transactional consume-transform-produce
# sessions, and check that nothing is lost or duplicated. Tests of features gregor
# does not offer (KIP-848 groups, share groups, SCRAM) skip themselves.
# KGO_TEST_RECORDS and GREGOR_BIN pass through; extra arguments go to the test
# binary (e.g. -test.run 'TestGroupETL|TestTxnEtl').
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-franz-go-suite.XXXXXX")
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

cd "$ROOT"
BIN=${GREGOR_BIN:-}
if [ -z "$BIN" ]; then
	BIN=$WORK/gregor
	go build -o "$BIN" ./cmd/gregor
fi
echo "building franz-go's kgo test binary ($(go list -m -f '{{.Version}}' github.com/twmb/franz-go))"
go test -c -o "$WORK/kgo.test" github.com/twmb/franz-go/pkg/kgo
SRC=$(go list -f '{{.Dir}}' github.com/twmb/franz-go/pkg/kgo)

"$BIN" broker --listen 127.0.0.1:0 --data-dir "$WORK/data" --set group.initial.rebalance.delay.ms=0 \
	>"$WORK/broker.out" 2>"$WORK/broker.err" &
PID=$!
ADDR=
for _ in $(seq 1 300); do
	ADDR=$(sed -n 's/.* ready on \([^ ]*\).*/\1/p' "$WORK/broker.out" 2>/dev/null | head -n 1)
	[ -n "$ADDR" ] && break
	kill -0 "$PID" 2>/dev/null || { echo "gregor exited before it was ready:" >&2; cat "$WORK/broker.err" >&2; exit 1; }
	sleep 0.1
done
[ -n "$ADDR" ] || { echo "gregor not ready after 30s" >&2; exit 1; }
echo "gregor ready on $ADDR; running the suite (a few minutes; log in $WORK/suite.log until the end)"

# Some tests read kgo's sources, so the binary runs in the package's directory.
set +e
(cd "$SRC" && KGO_SEEDS=$ADDR KGO_TEST_RF=1 "$WORK/kgo.test" -test.v -test.timeout 20m "$@") >"$WORK/suite.log" 2>&1
STATUS=$?
set -e
pass=$(grep -c -- '--- PASS' "$WORK/suite.log" || true)
fail=$(grep -c -- '--- FAIL' "$WORK/suite.log" || true)
skip=$(grep -c -- '--- SKIP' "$WORK/suite.log" || true)
if [ "$STATUS" -ne 0 ]; then
	grep -B2 -A20 -- '--- FAIL' "$WORK/suite.log" | tail -n 120
	echo "--- broker log (last 50 lines)"
	tail -n 50 "$WORK/broker.err"
fi
echo "franz-go kgo suite against gregor: $pass passed, $fail failed, $skip skipped (exit $STATUS)"
exit "$STATUS"
