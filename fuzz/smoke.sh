#!/usr/bin/env bash
# Runs every fuzz target briefly (seconds each, default 30). Needs a nightly
# toolchain for cargo-fuzz's sanitizers; without one it says so and exits 0,
# since the same decoders are also covered by proptest on stable.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz/smoke.sh: no nightly toolchain; skipping cargo-fuzz (proptest covers the decoders on stable)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install --locked cargo-fuzz@0.13.2
fi
mkdir -p corpus
for target in request_decode batch_validate; do
  mkdir -p "corpus/$target"
  echo "== fuzzing $target for ${seconds}s"
  cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
done
