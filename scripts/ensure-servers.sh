#!/bin/sh
# The scaled-out deployment (make run-scaled, make test-scaled) runs PostgreSQL, Redis and nginx
# from Debian's packages as the project's own instances on loopback (docs/deployment.md).
# Installs what is missing with apt when we are root; otherwise says how.
set -e
missing=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="postgresql"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages for the scaled deployment:$missing"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null \
    || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null; }
  exit 0
fi
echo "Missing Debian packages for the scaled deployment:$missing (sudo apt-get install$missing)." >&2
exit 1
