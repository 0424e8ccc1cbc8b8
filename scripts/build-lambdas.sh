#!/usr/bin/env bash
# Builds the Lambda binaries with cargo-lambda, as `sam build` does (BuildMethod:
# rust-cargolambda), so CI notices when packaging breaks.
#
#   scripts/build-lambdas.sh                 # consumer, sync, sweep, line-webhook, collector, attributes
#   scripts/build-lambdas.sh --bin consumer  # only some (repeat --bin)
#
# - Installs cargo-lambda from PyPI (`pip install cargo-lambda`, which brings zig through the
#   `ziglang` package) when it is missing.
# - Builds for arm64 (the template's Architectures) when cross-compiling works here: the
#   aarch64-unknown-linux-gnu Rust target is installed (or `rustup target add` can install it)
#   and zig runs. Otherwise it builds x86_64 and says why. LAMBDA_ARCH=arm64|x86_64 forces one
#   (a forced arm64 that cannot cross-compile fails).
# - Output goes under $CARGO_TARGET_DIR (cargo's usual ./target when unset):
#   <target dir>/lambda/<binary>/bootstrap.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
CARGO_LAMBDA_SPEC='cargo-lambda>=1.8,<2'
DEFAULT_BINS=(consumer sync sweep line-webhook collector attributes)
ARM_TARGET=aarch64-unknown-linux-gnu

bins=()
while (($#)); do
  case "$1" in
    --bin) bins+=("$2"); shift 2 ;;
    --bin=*) bins+=("${1#--bin=}"); shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "build-lambdas: unknown argument $1 (use --bin NAME)" >&2; exit 2 ;;
  esac
done
((${#bins[@]})) || bins=("${DEFAULT_BINS[@]}")

# ---- cargo-lambda (and zig) from PyPI
if ! command -v cargo-lambda >/dev/null 2>&1; then
  echo "build-lambdas: installing $CARGO_LAMBDA_SPEC with pip" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$CARGO_LAMBDA_SPEC"
  hash -r
  if ! command -v cargo-lambda >/dev/null 2>&1; then
    echo "build-lambdas: cargo-lambda installed but not on PATH (pip's bin directory: $("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'))" >&2
    exit 1
  fi
fi
echo "build-lambdas: $(cargo lambda --version)" >&2

# ---- can we cross-compile to arm64?
zig_works() {
  if command -v zig >/dev/null 2>&1 && zig version >/dev/null 2>&1; then return 0; fi
  "$PYTHON" -m ziglang version >/dev/null 2>&1
}
arm_target_installed() {
  command -v rustup >/dev/null 2>&1 || return 1
  rustup target list --installed 2>/dev/null | grep -qx "$ARM_TARGET" && return 0
  echo "build-lambdas: adding the $ARM_TARGET Rust target" >&2
  rustup target add "$ARM_TARGET" >&2 && return 0
  return 1
}

arch="${LAMBDA_ARCH:-}"
why=""
if [[ -z "$arch" ]]; then
  if ! zig_works; then
    arch=x86_64; why="zig is not available (neither 'zig' nor '$PYTHON -m ziglang' runs)"
  elif ! arm_target_installed; then
    arch=x86_64; why="the Rust target $ARM_TARGET is not installed and rustup could not add it"
  else
    arch=arm64
  fi
fi
case "$arch" in
  arm64) arch_flag=--arm64 ;;
  x86_64) arch_flag=--x86-64 ;;
  *) echo "build-lambdas: LAMBDA_ARCH must be arm64 or x86_64, not $arch" >&2; exit 2 ;;
esac
if [[ -n "$why" ]]; then
  echo "build-lambdas: NOT cross-compiling to arm64: $why. Building x86_64 instead;" \
       "deploying needs arm64 binaries (or Architectures: [x86_64] in deploy/template.yaml)." >&2
fi

target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
bin_args=()
for b in "${bins[@]}"; do bin_args+=(--bin "$b"); done

# --package, not --workspace: cargo unifies features over the packages it builds, and the CLI's
# `sqlite` feature of audience-store-open would otherwise link SQLite into the Lambdas.
echo "build-lambdas: cargo lambda build --release $arch_flag --package audience-lambda ${bin_args[*]} (target dir $target_dir)" >&2
start=$SECONDS
(cd "$ROOT" && cargo lambda build --release "$arch_flag" --package audience-lambda "${bin_args[@]}")
elapsed=$((SECONDS - start))

status=0
for b in "${bins[@]}"; do
  out="$target_dir/lambda/$b/bootstrap"
  if [[ -f "$out" ]]; then
    echo "build-lambdas: $b -> $out ($(du -h "$out" | cut -f1), $(file -b "$out" 2>/dev/null | cut -d, -f1-2))" >&2
  else
    echo "build-lambdas: $b: no bootstrap at $out" >&2
    status=1
  fi
done
echo "build-lambdas: $arch build of ${#bins[@]} binaries took ${elapsed}s" >&2
exit $status
