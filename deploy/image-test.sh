#!/usr/bin/env bash
# CI: builds the image with buildah from the shipped binary (no registry),
# mounts it and runs the agent from the image's own root filesystem as a
# Kubernetes sidecar would run it: as uid 65532, the root read-only, a
# writable volume at the queue only, the API key from a mounted file, its
# own network namespace. OTLP goes through it (gRPC and HTTP) to a sink;
# then SIGTERM must drain it and exit 0. Needs root (chroot, mounts,
# unshare) and buildah (Debian: apt-get install buildah).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "image-test.sh needs root" >&2; exit 1; }

buildah="buildah --storage-driver vfs"
image=localhost/ignis-agent:ci
max_bytes=$((20 * 1000 * 1000))

deploy/build-binary.sh
cargo build --locked --bin ignis-sink --bin ignis-loadgen
$buildah build --isolation chroot --quiet -f Containerfile -t "$image" .

work=$(mktemp -d)
container=$($buildah from --quiet "$image")
cleanup() {
  set +e
  for m in "$work/root/etc/ignis-agent" "$work/root/etc/hosts" "$work/root/etc/resolv.conf" "$work/root/var/run/secrets/ignis" "$work/root/var/lib/ignis-agent" \
    "$work/root/proc" "$work/root"; do
    mountpoint -q "$m" && umount "$m"
  done
  $buildah rm "$container" >/dev/null
  $buildah rmi "$image" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mounted=$($buildah mount "$container")

# What is in it, and its size.
found=$(cd "$mounted" && find . -type f | sort | tr '\n' ' ')
echo "image files: $found"
[ "$found" = "./etc/ignis-agent/config.yaml ./usr/local/bin/ignis-agent ./var/lib/ignis-agent/README " ] \
  || { echo "unexpected files in the image" >&2; exit 1; }
bytes=$(du -sb "$mounted" | cut -f1)
echo "image size: $bytes bytes (at most $max_bytes)"
[ "$bytes" -le "$max_bytes" ]
if file "$mounted/usr/local/bin/ignis-agent" | grep -q dynamically; then
  echo "the binary is not static" >&2
  exit 1
fi

# Mount points a container runtime provides, then the root read-only,
# the queue volume and the secret over it.
mkdir -p "$mounted/proc" "$mounted/var/run/secrets/ignis"
touch "$mounted/etc/hosts" "$mounted/etc/resolv.conf"
mkdir -p "$work/root" "$work/queue" "$work/secret"
mount --bind "$mounted" "$work/root"
mount -o remount,bind,ro "$work/root"
mount --bind /proc "$work/root/proc"
chown 65532:65532 "$work/queue"
mount --bind "$work/queue" "$work/root/var/lib/ignis-agent"
echo -n "ci-key" > "$work/secret/api-key"
mount --bind "$work/secret" "$work/root/var/run/secrets/ignis"
# The config comes as a ConfigMap volume would bring it: the shipped one,
# but to a sink without TLS.
mkdir -p "$work/config"
sed 's|^    compression: gzip$|    insecure: true\n    compression: gzip|' config.yaml > "$work/config/config.yaml"
grep -q '^    insecure: true$' "$work/config/config.yaml"
mount --bind "$work/config" "$work/root/etc/ignis-agent"
# The kubelet mounts /etc/hosts and /etc/resolv.conf; the destination is
# named through DNS (a responder below), as a Service is, so the static
# binary's resolver is exercised.
printf '127.0.0.1 localhost\n' > "$work/hosts"
printf 'nameserver 127.0.0.1\n' > "$work/resolv.conf"
mount --bind "$work/hosts" "$work/root/etc/hosts"
mount --bind "$work/resolv.conf" "$work/root/etc/resolv.conf"
cat > "$work/dns.py" <<'PY'
# Answers A queries for *.test with 127.0.0.1, anything else with no address.
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
while True:
    q, peer = s.recvfrom(512)
    i = 12
    labels = []
    while q[i]:
        labels.append(q[i + 1 : i + 1 + q[i]].decode())
        i += 1 + q[i]
    qtype = int.from_bytes(q[i + 1 : i + 3], "big")
    question = q[12 : i + 5]
    hit = qtype == 1 and labels[-1:] == ["test"]
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01" if hit else b""
    flags = b"\x81\x80" if hit or qtype != 1 else b"\x81\x83"
    s.sendto(q[:2] + flags + b"\x00\x01" + (b"\x00\x01" if hit else b"\x00\x00") + b"\x00\x00\x00\x00" + question + answer, peer)
PY

export work
unshare --net bash -euo pipefail -c '
  ip link set lo up
  python3 "$work/dns.py" &
  dns=$!
  target/debug/ignis-sink --grpc 127.0.0.1:5317 --http 127.0.0.1:5318 2>"$work/sink.log" &
  sink=$!
  # The image'"'"'s own environment and entry point, as a runtime would start it.
  env -i IGNIS_QUEUE_DIR=/var/lib/ignis-agent/queue IGNIS_ENDPOINT=http://ignis-sink.test:5317 \
    "$(command -v chroot)" --userspec=65532:65532 "$work/root" \
    /usr/local/bin/ignis-agent --config /etc/ignis-agent/config.yaml >"$work/agent.log" 2>&1 &
  agent=$!
  for _ in $(seq 100); do
    curl -sf http://127.0.0.1:13133/readyz >/dev/null && break
    sleep 0.1
  done
  curl -sf http://127.0.0.1:13133/readyz >/dev/null || { cat "$work/agent.log"; exit 1; }
  [ "$(stat -c %u /proc/$agent)" = 65532 ] || { echo "not running as 65532" >&2; exit 1; }

  sent=$(target/debug/ignis-loadgen --endpoint 127.0.0.1:4317 --duration 2 --rate 5000)
  echo "loadgen: $sent"
  acked=$(echo "$sent" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"acknowledged_items\"])")
  curl -sf http://127.0.0.1:4318/v1/logs -H "content-type: application/json" \
    -d "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":{\"stringValue\":\"through the image\"}}]}]}]}"
  echo
  kill -TERM "$agent"
  wait "$agent" || { echo "the agent did not exit 0 on SIGTERM" >&2; cat "$work/agent.log"; exit 1; }
  stats=$(curl -sf http://127.0.0.1:5318/stats)
  echo "sink: $stats"
  kill "$sink" "$dns"
  python3 - "$acked" "$stats" <<PY
import json, sys
acked, stats = int(sys.argv[1]), json.loads(sys.argv[2])
assert acked > 0, "nothing acknowledged"
assert stats["spans"] == acked, ("acknowledged", acked, "delivered", stats)
assert stats["log_records"] == 1, stats
PY
'
echo "the image ran from its own root filesystem; everything it acknowledged was delivered"
