#!/usr/bin/env bash
# Ensures the Stoplight Prism CLI (OpenAPI mock + request validator) is installed in a cache
# directory outside the repository, and prints the path of its `prism` binary on stdout.
#
# Idempotent and fast when already installed. Used by crates/line's contract tests and CI.
# Override the install location with AUDIENCE_STREAM_NODE_PREFIX and the version with PRISM_VERSION.
set -euo pipefail

PRISM_VERSION="${PRISM_VERSION:-5.16.0}"
PREFIX="${AUDIENCE_STREAM_NODE_PREFIX:-${HOME}/.cache/audience-stream/node}"
BIN="${PREFIX}/node_modules/.bin/prism"
STAMP="${PREFIX}/.prism-${PRISM_VERSION}"

if [[ -x "${BIN}" && -f "${STAMP}" ]]; then
  echo "${BIN}"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "ensure-prism: npm not found; install Node.js (>= 18) and npm first" >&2
  exit 1
fi

mkdir -p "${PREFIX}"
# Concurrent callers (parallel tests) wait for one install instead of racing npm.
exec 9>"${PREFIX}/.install.lock"
flock 9
if [[ -x "${BIN}" && -f "${STAMP}" ]]; then
  echo "${BIN}"
  exit 0
fi
# Output of npm goes to stderr so stdout carries only the binary path.
npm install --prefix "${PREFIX}" --no-audit --no-fund --loglevel=error \
  "@stoplight/prism-cli@${PRISM_VERSION}" 1>&2

if [[ ! -x "${BIN}" ]]; then
  echo "ensure-prism: npm install finished but ${BIN} is missing" >&2
  exit 1
fi
touch "${STAMP}"
echo "${BIN}"
