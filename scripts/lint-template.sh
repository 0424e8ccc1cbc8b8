#!/usr/bin/env bash
# Lints deploy/template.yaml with cfn-lint (the SAM transform is applied first, as
# `sam validate --lint` does). Fails on errors (and on templates cfn-lint cannot parse);
# warnings and informational findings are printed but do not fail.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
TEMPLATE="${1:-$ROOT/deploy/template.yaml}"

"$ROOT/scripts/ensure-cfn-lint.sh"

if [[ ! -f "$ROOT/deploy/rules/segments.yaml" ]]; then
  echo "lint-template: deploy/rules/segments.yaml is missing (the template's RulesLayer ships it)" >&2
  exit 1
fi

# The module, not the console script: works whichever bin directory pip used.
cfn_lint() {
  "$PYTHON" -c 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())' "$@"
}

echo "lint-template: $(cfn_lint --version) on ${TEMPLATE#"$ROOT"/}" >&2
set +e
# Informational findings (I...) are included so they are seen; only errors fail.
cfn_lint --include-checks I --format parseable -- "$TEMPLATE"
rc=$?
set -e

# cfn-lint's exit code is a bit mask: 1 fatal/parse error, 2 error, 4 warning, 8 informational.
if (( rc & 3 )); then
  echo "lint-template: FAILED (cfn-lint exit code $rc: errors above)" >&2
  exit 1
fi
if (( rc & 4 )); then
  echo "lint-template: passed with warnings (exit code $rc)" >&2
elif (( rc & 8 )); then
  echo "lint-template: passed with informational findings (exit code $rc)" >&2
else
  echo "lint-template: clean" >&2
fi
