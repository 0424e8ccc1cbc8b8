#!/usr/bin/env bash
# Fuzzes the pure core (audience-core) with cargo-fuzz / libFuzzer: scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Targets (fuzz/fuzz_targets): decode (a record payload as JSON and as Base64), rules (a rules
# file), roundtrip (JSON Lines → decode → apply with the shipped rules → encode_state →
# decode_state, and decode_state of arbitrary bytes). Each runs for SECONDS (default 600), one
# after the other; default: all three.
#
# What it needs and why:
# - cargo-fuzz, installed here from crates.io (`cargo install cargo-fuzz --locked`) when missing.
# - Only the stable toolchain. With `-s none` (no sanitizer) every flag cargo-fuzz passes is
#   accepted by stable rustc (`-Cpasses=sancov-module`, `-Cllvm-args=-sanitizer-coverage-*`,
#   `--cfg fuzzing`), so no nightly and no RUSTC_BOOTSTRAP are needed (checked with rustc
#   1.95 and cargo-fuzz 0.13.2). AddressSanitizer (`-s address`, the default) needs
#   `-Zsanitizer`, i.e. nightly or RUSTC_BOOTSTRAP=1 — and audience-core is safe Rust, so it
#   would only slow the search (about 2x); panics, overflow checks and assertions are what
#   the targets look for.
# - `--release --debug-assertions`: optimised build (executions per second) that still panics
#   on integer overflow and debug_assert!, so a wrapping computation on hostile data is found.
# - A C++ compiler (libFuzzer is built from source by the libfuzzer-sys crate).
#
# Files: the seed corpus fuzz/corpus/<target> (tracked, read only); the corpus libFuzzer grows
# goes to fuzz/work/<target>, crash inputs to fuzz/artifacts/<target>, the build to
# fuzz/target (all git-ignored; override the build directory with FUZZ_TARGET_DIR). The
# fuzz crate is its own workspace, so the main workspace's builds never see it.
# Exit status: non-zero when a target finds a crash (its input is named in the output);
# minimise one with `cargo fuzz tmin -s none --release --debug-assertions <target> <file>`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(decode rules roundtrip)
fi
case "$seconds" in
  '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, got \`$seconds\`" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked
fi

target_dir="${FUZZ_TARGET_DIR:-fuzz/target}"
# cargo-fuzz takes the build directory from --target-dir, not from CARGO_TARGET_DIR.
unset CARGO_TARGET_DIR
flags=(-s none --release --debug-assertions --target-dir "$target_dir")

status=0
for target in "${targets[@]}"; do
  work="fuzz/work/$target"
  mkdir -p "$work" "fuzz/artifacts/$target"
  log="fuzz/work/$target.log"
  echo "fuzz.sh: $target for ${seconds}s (log: $log)" >&2
  # New inputs go to the first corpus directory (work); the seeds are only read.
  if cargo fuzz run "${flags[@]}" "$target" "$work" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=25 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  files=$(find "$work" -type f | wc -l)
  kib=$(($(find "$work" -type f -exec cat {} + | wc -c) / 1024))
  echo "fuzz.sh: $target: $result; grown corpus $files files, $kib KiB" >&2
  grep -E '(DONE |^Done|^stat::|panicked at|deadly signal|^SUMMARY|Test unit written|ERROR: libFuzzer)' "$log" >&2 || true
  if [ "$result" = FAILED ]; then
    tail -n 40 "$log" >&2
  fi
done
exit "$status"
