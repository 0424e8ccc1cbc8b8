#!/usr/bin/env bash
# Runs Amazon's DynamoDB Local in the foreground (in memory, shared database) on 127.0.0.1:PORT
# (default 8000), installing it first through scripts/ensure-dynamodb-local.sh. For measuring
# against a local endpoint from an installed binary, e.g. in another shell:
#
#   scripts/run-dynamodb-local.sh 8000
#   AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 \
#     audience-stream bench dynamodb --endpoint http://127.0.0.1:8000
#
# Stop it with Ctrl-C. Needs npm (to install) and Java 17+ (to run).
set -euo pipefail
cd "$(dirname "$0")/.."

port="${1:-8000}"
[[ "$port" =~ ^[0-9]+$ ]] || { echo "run-dynamodb-local: PORT must be a number, not $port" >&2; exit 2; }
command -v java >/dev/null || { echo "run-dynamodb-local: Java 17 is needed (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
dir="$(bash scripts/ensure-dynamodb-local.sh)"
echo "run-dynamodb-local: DynamoDB Local on http://127.0.0.1:$port (in memory)" >&2
cd "$dir"
exec java "-Djava.library.path=$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
  -inMemory -sharedDb -disableTelemetry -port "$port"
