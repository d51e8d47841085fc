#!/usr/bin/env bash
# The shipped binary, one recipe for the Containerfile (CI), the Dockerfile
# (users) and releases: a release build linked statically against glibc
# (`+crt-static`: the image is FROM scratch, with no libc to load), its debug
# info split off.
#
#   target/dist/ignis-agent        stripped; what images and releases carry
#   target/dist/ignis-agent.debug  its symbols and DWARF, for gdb and perf
#                                  (the binary names it by .gnu_debuglink:
#                                  put it beside the binary or in
#                                  /usr/lib/debug to read a core or a profile)
#
# --target is explicit so that +crt-static reaches only the agent, not build
# scripts and proc macros, and the build lands in target/<triple>/ without
# disturbing `cargo build --release`'s cache in target/release/.
set -euo pipefail
cd "$(dirname "$0")/.."

triple=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked --bin ignis-agent --target "$triple"

built="target/$triple/release/ignis-agent"
mkdir -p target/dist
objcopy --only-keep-debug "$built" target/dist/ignis-agent.debug
objcopy --strip-all --add-gnu-debuglink=target/dist/ignis-agent.debug \
  "$built" target/dist/ignis-agent
ls -l target/dist/ignis-agent target/dist/ignis-agent.debug
