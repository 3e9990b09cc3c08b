#!/usr/bin/env bash
# Runs each fuzz target for SECS seconds (default 60) from its seed corpus.
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain (`rustup toolchain install nightly`).
set -euo pipefail
cd "$(dirname "$0")"
secs="${SECS:-60}"
for target in frame_decoder startup_parser; do
  corpus="$(mktemp -d)"
  cp seeds/"$target"/* "$corpus"/
  echo "== $target for ${secs}s"
  cargo +nightly fuzz run "$target" "$corpus" -- -max_total_time="$secs" -max_len=4096
  rm -rf "$corpus"
done
