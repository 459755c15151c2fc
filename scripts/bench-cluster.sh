#!/usr/bin/env bash
# bench-cluster.sh: load 3 of docs/benchmarks.md (per-user streams) across a
# two-node cluster sharing PostgreSQL and Redis: the streams on node A, every
# publish sent to node B, so each event crosses the bus (figure 5).
#
# Usage: scripts/bench-cluster.sh [BINARY] [RESULT.json]
#   BINARY       a built tocsin (default ./tocsin; go build -o tocsin ./cmd/tocsin)
#   RESULT.json  where the bench result goes (default bench-cluster.json)
#
# Environment (defaults are the full target load):
#   STREAMS=10000 RATE=2000 DURATION=10s PUBLISHERS=50
#   SCENARIO=per-user (or broadcast: one topic, so set RATE low, e.g. RATE=2)
#   PG_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
#   REDIS_URL=redis://127.0.0.1:6379/0
#   PORT_A=18181 PORT_B=18182
#
# The nodes get a fresh PostgreSQL schema (dropped at the end, so runs do not see
# each other's data and the database is left as it was), temporary data dirs, a
# random API key and JWT secret, and are stopped by PID whatever happens.
set -euo pipefail

BIN=${1:-./tocsin}
OUT=${2:-bench-cluster.json}
SCENARIO=${SCENARIO:-per-user}
STREAMS=${STREAMS:-10000}
RATE=${RATE:-2000}
DURATION=${DURATION:-10s}
PUBLISHERS=${PUBLISHERS:-50}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
PORT_A=${PORT_A:-18181}
PORT_B=${PORT_B:-18182}

[[ -x $BIN ]] || { echo "bench-cluster: $BIN is not an executable (build it: go build -o tocsin ./cmd/tocsin)" >&2; exit 2; }
command -v psql >/dev/null || { echo "bench-cluster: psql is needed to make the schema" >&2; exit 2; }
command -v curl >/dev/null || { echo "bench-cluster: curl is needed to wait for the nodes" >&2; exit 2; }
# Each stream is a socket on both sides of loopback, in this shell's children.
ulimit -n 20000

TMP=$(mktemp -d /tmp/tocsin-bench-cluster.XXXXXX)
rand() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
SCHEMA=tocsin_bench_$(rand 6)
KEY=tk_bench_$(rand 12)
SECRET=$(rand 24)
PID_A= PID_B= SCHEMA_MADE=

cleanup() {
	local pid
	for pid in $PID_A $PID_B; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $PID_A $PID_B; do
		# Bounded: a node drains its streams in --shutdown-timeout, then is killed.
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $SCHEMA_MADE ]]; then
		psql "$PG_URL" -qXc "DROP SCHEMA $SCHEMA CASCADE" >/dev/null 2>&1 || echo "bench-cluster: could not drop schema $SCHEMA" >&2
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql "$PG_URL" -qX -v ON_ERROR_STOP=1 -c "CREATE SCHEMA $SCHEMA" >/dev/null
SCHEMA_MADE=1
if [[ $PG_URL == *\?* ]]; then STORE="$PG_URL&search_path=$SCHEMA"; else STORE="$PG_URL?search_path=$SCHEMA"; fi

# start_node NAME PORT: starts a node in the background; its PID is in $NODE_PID.
start_node() {
	mkdir -p "$TMP/$1"
	"$BIN" serve --addr "127.0.0.1:$2" --data-dir "$TMP/$1" --store "$STORE" --bus "$REDIS_URL" \
		--api-key "$KEY" --jwt-secret "$SECRET" \
		--rate-publish 0 --rate-connect 0 --rate-user 0 \
		--max-streams-per-token 0 --max-streams-per-ip 0 --max-conns-per-ip 0 --log-level warn >"$TMP/$1.log" 2>&1 &
	NODE_PID=$!
}

# wait_ready NAME PORT PID: at most 20 s for /readyz to answer 200.
wait_ready() {
	for _ in $(seq 1 200); do
		if curl -fsS -o /dev/null "http://127.0.0.1:$2/readyz" 2>/dev/null; then return 0; fi
		if ! kill -0 "$3" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "bench-cluster: node $1 did not become ready; its log:" >&2
	cat "$TMP/$1.log" >&2
	return 1
}

# cpu PID: the process' user+system CPU seconds so far (USER_HZ = 100).
cpu() { awk '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / 100 }' "/proc/$1/stat"; }

# One node at a time: the first applies the schema's migrations.
start_node a "$PORT_A"; PID_A=$NODE_PID
wait_ready a "$PORT_A" "$PID_A"
start_node b "$PORT_B"; PID_B=$NODE_PID
wait_ready b "$PORT_B" "$PID_B"
echo "bench-cluster: node A (streams) pid $PID_A on :$PORT_A, node B (publishes) pid $PID_B on :$PORT_B, schema $SCHEMA" >&2

cpu_a0=$(cpu "$PID_A") cpu_b0=$(cpu "$PID_B")
status=0
"$BIN" bench "$SCENARIO" --url "http://127.0.0.1:$PORT_A" --publish-url "http://127.0.0.1:$PORT_B" \
	--api-key "$KEY" --jwt-secret "$SECRET" --server-pid "$PID_A" \
	--streams "$STREAMS" --rate "$RATE" --duration "$DURATION" --publishers "$PUBLISHERS" \
	--json "$OUT" || status=$?
# The result's cpuSecondsPer10k is node A's alone (it has --server-pid); both here.
echo "bench-cluster: CPU seconds during the run (streams open to end): node A $(awk -v a="$(cpu "$PID_A")" -v b="$cpu_a0" 'BEGIN { printf "%.2f", a - b }'), node B $(awk -v a="$(cpu "$PID_B")" -v b="$cpu_b0" 'BEGIN { printf "%.2f", a - b }'); result in $OUT" >&2
for n in a b; do
	if [[ -s $TMP/$n.log ]]; then
		echo "bench-cluster: node $n logged:" >&2
		tail -n 20 "$TMP/$n.log" >&2
	fi
done
exit "$status"
