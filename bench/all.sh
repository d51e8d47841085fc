#!/usr/bin/env bash
# Every end-to-end figure of BENCHMARKS.md in one go (about 15 minutes on the
# 2-core VM): all three signals flat out and at 10,000 items/s, pass-through
# and with enrichment + redaction, traces with zstd, without compression and
# through a disk queue, and the latency the agent adds (ignis-loadgen).
# Needs h2load (Debian: nghttp2-client) and the shared workload in ../shared/bench.
#
#   bench/all.sh [runs]      # runs per flat-out row, 3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
cargo build --release --quiet --bin ignis-agent --bin ignis-sink --bin ignis-loadgen
row() {
  echo "## ${RATE:+RATE=$RATE }${BENCH_COMPRESSION:+BENCH_COMPRESSION=$BENCH_COMPRESSION }$*"
  "$@" 2>&1 | grep -E "delivered" || echo "(failed)"
  sleep 1
}

for signal in traces logs metrics; do
  for config in bench/passthrough.yaml bench/redaction.yaml; do
    for _ in $(seq "$runs"); do row bench/e2e.sh "$signal" 10000 "$config"; done
    RATE=10000 row bench/e2e.sh "$signal" 3000 "$config"
  done
done
BENCH_COMPRESSION=zstd row bench/e2e.sh traces 10000
BENCH_COMPRESSION=none row bench/e2e.sh traces 10000
BENCH_COMPRESSION=zstd row bench/e2e.sh traces 10000 bench/redaction.yaml
rm -rf /tmp/ignis-bench-queue
row bench/e2e.sh traces 10000 bench/disk.yaml

# Added latency: the same load straight to the sink, then through the agent.
taskset -c 1 target/release/ignis-sink --grpc 127.0.0.1:5317 --http 127.0.0.1:5318 2>/dev/null &
sink=$!
trap 'kill $sink 2>/dev/null; wait 2>/dev/null' EXIT
sleep 0.5
for signal in traces logs metrics; do
  echo "## latency $signal: loadgen → sink"
  taskset -c 1 target/release/ignis-loadgen --signal "$signal" --endpoint 127.0.0.1:5317 --rate 10000 --duration 10
  echo
  for config in bench/passthrough.yaml bench/redaction.yaml; do
    taskset -c 0 target/release/ignis-agent --config "$config" &
    agent=$!
    sleep 1
    echo "## latency $signal: loadgen → agent ($config) → sink"
    taskset -c 1 target/release/ignis-loadgen --signal "$signal" --rate 10000 --duration 10
    echo
    kill "$agent"; wait "$agent" 2>/dev/null || true
    sleep 0.5
  done
done
