#!/usr/bin/env bash
# Makes sure the moto S3 emulator (PyPI `moto[server]`, >= 5.2.2) is importable by python3.
# Idempotent and quick when it is already there. Used by the audience-pinpoint tests (they start
# `python3 -m moto.server -H 127.0.0.1 -p PORT`) and by CI before `cargo test`.
# 5.2.2 is the floor: 5.2.1 answers CompleteMultipartUpload with a wrong XML root element
# (getmoto/moto#10055), which the Rust SDK rejects.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
SPEC='moto[server]>=5.2.2,<6'

have_moto() {
  "$PYTHON" - <<'PY' >/dev/null 2>&1
import re
import moto, moto.server, flask, flask_cors  # the [server] extra
v = tuple(int(x) for x in re.findall(r"\d+", moto.__version__)[:3])
raise SystemExit(0 if v >= (5, 2, 2) else 1)
PY
}

if have_moto; then
  exit 0
fi

echo "ensure-moto: installing $SPEC with pip" >&2
"$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$SPEC"

if ! have_moto; then
  echo "ensure-moto: $SPEC installed but the check still fails ($PYTHON -c 'import moto.server')" >&2
  exit 1
fi
echo "ensure-moto: $("$PYTHON" -c 'import moto; print("moto", moto.__version__)')" >&2
