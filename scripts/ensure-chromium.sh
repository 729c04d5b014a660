#!/bin/sh
# Browser tests drive Debian's chromium with Playwright (no browser is downloaded).
# Installs it with apt when missing and we are root; otherwise says how.
set -e
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
    || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }
  exit 0
fi
echo "Chromium not found at $CHROMIUM. Install Debian's package: sudo apt-get install chromium" >&2
echo "(or set CHROMIUM to the path of a Chromium binary)." >&2
exit 1
