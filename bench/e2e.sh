#!/usr/bin/env bash
# End-to-end benchmark: h2load → ignis-agent (pinned to CPU 0) → ignis-sink
# (CPU 1, with h2load). Sends the shared workload bodies and reports, from
# the sink's count, items/s delivered, agent CPU µs per item and peak RSS.
#
#   bench/e2e.sh [traces|logs|metrics] [requests] [config] [extra h2load args...]
#
# RATE=10000 sends at a fixed rate of items/s (1 connection, 100 items per
# request) instead of flat out (16 connections × 16 streams).
# LOADGEN=1 drives the project's own generator (fresh ids in every request,
# varied values, latency percentiles) instead of h2load and the fixed bodies;
# then `requests` is the number of seconds to run.
# Needs h2load (Debian: nghttp2-client) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
signal=${1:-traces}; requests=${2:-20000}; config=${3:-bench/passthrough.yaml}
shift $(( $# < 3 ? $# : 3 ))
workload=${WORKLOAD:-../shared/bench}
case $signal in
  traces) service=opentelemetry.proto.collector.trace.v1.TraceService; key=spans ;;
  logs) service=opentelemetry.proto.collector.logs.v1.LogsService; key=log_records ;;
  metrics) service=opentelemetry.proto.collector.metrics.v1.MetricsService; key=metric_points ;;
  *) echo "unknown signal $signal" >&2; exit 2 ;;
esac
[ -n "${LOADGEN:-}" ] || command -v h2load >/dev/null || { echo "h2load missing: apt-get install nghttp2-client" >&2; exit 2; }
cargo build --release --quiet --bin ignis-agent --bin ignis-sink --bin ignis-loadgen

taskset -c 1 target/release/ignis-sink --grpc 127.0.0.1:5317 --http 127.0.0.1:5318 2>/dev/null &
sink=$!
taskset -c 0 target/release/ignis-agent --config "$config" &
agent=$!
trap 'kill $agent $sink 2>/dev/null; wait 2>/dev/null' EXIT
sleep 1

cpu_ticks() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
count() { curl -s http://127.0.0.1:5318/stats | sed -E "s/.*\"$key\":([0-9]+).*/\1/"; }
idle_rss=$(awk '/VmRSS/ {print $2}' "/proc/$agent/status")
expected=$((requests * 100))
start_ticks=$(cpu_ticks)
start=$(date +%s.%N)
if [ -n "${LOADGEN:-}" ]; then
  if [ -n "${RATE:-}" ]; then gen=(--rate "$RATE"); else gen=(--connections 4 --streams 16); fi
  taskset -c 1 target/release/ignis-loadgen --signal "$signal" "${gen[@]}" --duration "$requests" > /tmp/loadgen.out
  expected=$(sed -E 's/.*"acknowledged_items":([0-9]+).*/\1/' /tmp/loadgen.out)
else
if [ -n "${RATE:-}" ]; then
  load=(-c 1 -m 8 --rps $((RATE / 100)))
else
  load=(-c 16 -m 16)
fi
taskset -c 1 h2load "${load[@]}" -n "$requests" "$@" -d "$workload/$signal.grpc" \
  -H 'content-type: application/grpc' -H 'te: trailers' \
  "http://127.0.0.1:4317/$service/Export" > /tmp/h2load.out
fi
# Delivered is what the sink counted; wait until it stops changing.
last=-1
while :; do
  now=$(count)
  [ "$now" -ge "$expected" ] && break
  [ "$now" = "$last" ] && break
  last=$now; sleep 0.5
done
end=$(date +%s.%N)
end_ticks=$(cpu_ticks)
hz=$(getconf CLK_TCK)
peak_rss=$(awk '/VmHWM/ {print $2}' "/proc/$agent/status")
awk -v n="$now" -v e="$expected" -v s="$start" -v t="$end" -v c0="$start_ticks" -v c1="$end_ticks" \
    -v hz="$hz" -v idle="$idle_rss" -v peak="$peak_rss" -v sig="$signal" 'BEGIN {
  secs = t - s; cpu = (c1 - c0) / hz;
  printf "%s: delivered %d of %d in %.2f s = %.0f items/s; agent CPU %.2f s = %.2f us/item; RSS idle %.1f MiB, peak %.1f MiB\n",
    sig, n, e, secs, n / secs, cpu, cpu * 1e6 / n, idle / 1024, peak / 1024 }'
if [ -n "${LOADGEN:-}" ]; then sed 's/^/  loadgen: /' /tmp/loadgen.out; else grep -E "requests:|finished in" /tmp/h2load.out | sed 's/^/  h2load: /'; fi
