#!/usr/bin/env bash
# Makes sure cfn-lint (PyPI `cfn-lint`, 1.x) is on PATH or importable by python3.
# Idempotent and quick when it is already there. Used by scripts/lint-template.sh and CI.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
SPEC='cfn-lint>=1.20,<2'

have_cfn_lint() {
  "$PYTHON" - <<'PY' >/dev/null 2>&1
import re
from importlib.metadata import version
v = tuple(int(x) for x in re.findall(r"\d+", version("cfn-lint"))[:2])
raise SystemExit(0 if (1, 20) <= v < (2, 0) else 1)
PY
}

if have_cfn_lint; then
  exit 0
fi

echo "ensure-cfn-lint: installing $SPEC with pip" >&2
"$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$SPEC"

if ! have_cfn_lint; then
  echo "ensure-cfn-lint: $SPEC installed but $PYTHON still cannot find it" >&2
  exit 1
fi
echo "ensure-cfn-lint: $("$PYTHON" -c 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())' --version)" >&2
