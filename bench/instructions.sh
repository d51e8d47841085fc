#!/usr/bin/env bash
# Instructions per request on the per-request path (wire validation,
# redaction on the wire, gzip-6 of the shared 100-span body), counted by
# cachegrind: stable on a noisy machine, so a regression shows as a change
# in this number.
#
#   bench/instructions.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
cargo bench --no-run --bench instructions 2>/dev/null
binary=$(ls -t target/release/deps/instructions-* | grep -v '\.d$' | head -1)
count() {
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$binary" "$1" 2>&1 \
    | sed -nE 's/.*I\s+refs:\s+([0-9,]+).*/\1/p' | tr -d ,
}
# The difference between N and 0 rounds leaves out start-up (regex compilation, reading the file).
base=$(count 0)
total=$(count "$rounds")
echo "per request (100 spans): $(( (total - base) / rounds )) instructions; per span: $(( (total - base) / rounds / 100 ))"
