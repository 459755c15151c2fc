#!/usr/bin/env bash
# bench-plot.sh: server memory per idle stream and broadcast latency against the
# number of open streams, measured with `tocsin bench` and drawn with gnuplot.
#
# Usage: scripts/bench-plot.sh            (from anywhere in the repository)
#
# Writes $OUT_DIR/bench-scaling.tsv (one row per stream count, the raw figures)
# and $OUT_DIR/bench-scaling.png (two panels: KiB per idle stream; broadcast
# p50/p99 ms).
#
# Environment:
#   COUNTS="1000 2500 5000 10000 15000"  stream counts (each ≤ 19000)
#   HOLD=5s                              idle: how long streams are held before RSS is read
#   RATE=2 DURATION=10s                  broadcast: messages per second to all streams, for how long
#   PORT=18190                           the server's port on 127.0.0.1
#   OUT_DIR=<repo>/docs/img              where the TSV and PNG go
#   BIN=                                 a built tocsin to use instead of building ./cmd/tocsin
#   PLOT_ONLY=1                          only redraw the PNG from the existing TSV
#
# Every measurement runs on a freshly started server with a fresh data dir, so the
# RSS figure is the growth of a clean process and no run sees another's streams.
# Server and load generator share this machine's cores, as in docs/benchmarks.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
COUNTS=${COUNTS:-1000 2500 5000 10000 15000}
HOLD=${HOLD:-5s}
RATE=${RATE:-2}
DURATION=${DURATION:-10s}
PORT=${PORT:-18190}
OUT_DIR=$(realpath -m "${OUT_DIR:-$ROOT/docs/img}")
TSV=$OUT_DIR/bench-scaling.tsv
PNG=$OUT_DIR/bench-scaling.png

# need CMD PACKAGE: install a missing tool from Debian's archive.
need() {
	command -v "$1" >/dev/null && return 0
	echo "bench-plot: installing $2" >&2
	local sudo=
	[[ $(id -u) -eq 0 ]] || sudo=sudo
	$sudo apt-get update -qq && $sudo apt-get install -y -qq "$2" >/dev/null
	command -v "$1" >/dev/null || { echo "bench-plot: $1 is missing; install $2" >&2; exit 2; }
}

TMP= PID=
stop_server() {
	[[ -n $PID ]] || return 0
	kill -TERM "$PID" 2>/dev/null || true
	# Bounded: the server drains its streams on SIGTERM; after 10 s it is killed.
	for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	PID=
}
cleanup() { stop_server; [[ -z $TMP ]] || rm -rf "$TMP"; }

# start_server DIR: a fresh server on DIR, ready (at most 20 s), pid in $PID.
start_server() {
	mkdir -p "$1"
	"$BIN" serve --addr "127.0.0.1:$PORT" --data-dir "$1" \
		--rate-publish 0 --rate-connect 0 --rate-user 0 \
		--max-streams-per-token 0 --max-streams-per-ip 0 --max-conns-per-ip 0 --log-level warn >"$1.log" 2>&1 &
	PID=$!
	for _ in $(seq 1 200); do
		curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench-plot: the server did not start; its log:" >&2
	cat "$1.log" >&2
	exit 1
}

# run N SCENARIO ARGS...: one bench run on a fresh server; the JSON result goes to
# $TMP/SCENARIO-N.json (tocsin bench writes it even when the run reports an error).
run() {
	local n=$1 scenario=$2 dir=$TMP/data-$2-$1
	shift 2
	start_server "$dir"
	echo "bench-plot: $scenario, $n streams" >&2
	"$BIN" bench "$scenario" --url "http://127.0.0.1:$PORT" --data-dir "$dir" --server-pid "$PID" \
		--streams "$n" "$@" --json "$TMP/$scenario-$n.json" >/dev/null ||
		echo "bench-plot: $scenario with $n streams reported an error (kept in the data)" >&2
	stop_server
	rm -rf "$dir"
}

# measure: every count, into $TSV.
measure() {
	local n max=0
	for n in $COUNTS; do ((n > max)) && max=$n; done
	# Each stream is a descriptor in the server and one in the load generator.
	ulimit -n $((max > 15000 ? max + 5000 : 20000))
	TMP=$(mktemp -d /tmp/tocsin-bench-plot.XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	if [[ -z ${BIN:-} ]]; then
		BIN=$TMP/tocsin
		echo "bench-plot: building ./cmd/tocsin" >&2
		(cd "$ROOT" && go build -o "$BIN" ./cmd/tocsin)
	fi
	mkdir -p "$OUT_DIR"
	{
		echo "# tocsin bench: idle --hold $HOLD; broadcast --rate $RATE --duration $DURATION; $(nproc) cores; $(date -u +%Y-%m-%d)"
		printf '# streams\tidle_kib_per_stream\tidle_server_rss_kib\tidle_open_s\tidle_errors\tbc_p50_ms\tbc_p90_ms\tbc_p99_ms\tbc_max_ms\tbc_delivered\tbc_expected\tbc_errors\n'
	} >"$TSV.tmp"
	for n in $COUNTS; do
		run "$n" idle --hold "$HOLD"
		run "$n" broadcast --rate "$RATE" --duration "$DURATION"
		# A run with no JSON at all still gets its row, as gaps (NaN) in the plot.
		jq -rn --slurpfile i "$TMP/idle-$n.json" --slurpfile b "$TMP/broadcast-$n.json" --argjson n "$n" \
			'[$n, $i[0].rssPerStreamKiB // 0, $i[0].serverRssKiB // 0, $i[0].seconds, $i[0].errors,
			  $b[0].latencyMs.p50, $b[0].latencyMs.p90, $b[0].latencyMs.p99, $b[0].latencyMs.max,
			  $b[0].delivered, $b[0].expected // 0, $b[0].errors] | @tsv' >>"$TSV.tmp" 2>/dev/null ||
			printf '%s\tNaN\tNaN\tNaN\tNaN\tNaN\tNaN\tNaN\tNaN\tNaN\tNaN\tNaN\n' "$n" >>"$TSV.tmp"
	done
	mv "$TSV.tmp" "$TSV"
}

# plot: $TSV into $PNG, its first line (how it was measured) as the subtitle.
plot() {
	local term="pngcairo size 900,900 font 'sans,11'" how
	# pngcairo draws anti-aliased text; plain png (libgd) is the fallback.
	gnuplot -e "set terminal $term" -e "exit" 2>/dev/null || term="png size 900,900"
	how=$(head -n 1 "$TSV" | sed 's/^# *//; s/[_"{}^@&\\]/ /g') # no enhanced-text markup
	gnuplot <<-EOF
		set terminal $term
		set output '$PNG'
		set datafile separator tab
		set datafile commentschars '#'
		set multiplot layout 2,1 title "tocsin: server memory and broadcast latency against open SSE streams\n{/*0.8 $how; server and load generator on the same cores}"
		set grid
		# Keys beside the plots and headroom above the highest point or target line,
		# so neither hides a point whatever the figures are.
		set key outside right top vertical
		set lmargin at screen 0.09
		set rmargin at screen 0.76
		set xrange [0:*]
		set yrange [0:*]
		set offsets 0, 0, graph 0.1, 0
		set xlabel 'open streams'

		set title 'Server memory per idle stream (RSS growth / streams)'
		set ylabel 'KiB per stream'
		plot '$TSV' using 1:2 with linespoints lw 2 pt 7 title 'per idle stream', \
		     8 with lines dt 2 lc rgb 'gray40' title 'target 8 KiB'

		set title 'Broadcast publish-to-receive latency (every stream on one topic)'
		set ylabel 'latency (ms)'
		plot '$TSV' using 1:6 with linespoints lw 2 pt 7 title 'p50', \
		     '$TSV' using 1:8 with linespoints lw 2 pt 5 title 'p99', \
		     30 with lines dt 2 lc rgb 'gray40' title 'target p99 30 ms'
		unset multiplot
	EOF
}

need gnuplot gnuplot-nox
if [[ -n ${PLOT_ONLY:-} ]]; then
	[[ -s $TSV ]] || { echo "bench-plot: no $TSV to plot" >&2; exit 2; }
else
	need jq jq
	need curl curl
	measure
fi
plot
echo "bench-plot: wrote $TSV and $PNG" >&2
head -n 1 "$TSV" >&2
tail -n +2 "$TSV" | column -t -s $'\t' >&2
