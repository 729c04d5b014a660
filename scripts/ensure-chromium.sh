#!/bin/sh
# Browser tests drive Debian's chromium with Playwright (no browser is downloaded), and the
# pages are Chinese: Debian's Noto CJK fonts render them (screenshots are read by people).
# Installs what is missing with apt when we are root; otherwise says how.
set -e
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
missing=""
[ -x "$CHROMIUM" ] || missing="chromium"
[ -d /usr/share/fonts/opentype/noto ] || missing="$missing fonts-noto-cjk"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages for the browser tests:$missing"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null \
    || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null; }
  exit 0
fi
echo "Missing Debian packages for the browser tests:$missing (sudo apt-get install$missing)." >&2
echo "Set CHROMIUM to use another Chromium binary." >&2
exit 1
