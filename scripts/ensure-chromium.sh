#!/usr/bin/env bash
# Installs what the dashboard's browser test needs: Debian's headless Chromium
# (`chromium-headless-shell`, or `chromium` where that package does not exist) and
# `fonts-noto-cjk` so Japanese segment descriptions render. Idempotent and fast when
# everything is installed: `apt-get update` runs only when something is missing.
# Prints the browser binary's path on its last line.
set -euo pipefail

if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  SUDO=sudo
else
  SUDO=
fi

find_browser() {
  for b in chromium-headless-shell /usr/lib/chromium/chromium-headless-shell chromium chromium-browser; do
    if command -v "$b" >/dev/null 2>&1; then
      command -v "$b"
      return 0
    fi
  done
  return 1
}

have_fonts() {
  dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "install ok installed"
}

if find_browser >/dev/null && have_fonts; then
  find_browser
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# (No `apt-cache … | grep -q` here: with pipefail, grep closing the pipe early fails the test.)
policy=$(apt-cache policy chromium-headless-shell 2>/dev/null || true)
if [[ "$policy" == *"Candidate: "[0-9]* ]]; then
  browser_pkg=chromium-headless-shell
else
  browser_pkg=chromium
fi
$SUDO apt-get install -y -qq --no-install-recommends "$browser_pkg" fonts-noto-cjk >/dev/null

if ! browser=$(find_browser); then
  echo "ensure-chromium: installed $browser_pkg but found no browser binary on PATH" >&2
  exit 1
fi
echo "$browser"
