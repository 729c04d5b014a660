#!/usr/bin/env sh
# Prints the path of a Python 3.10 interpreter (Rasa 3.6 supports 3.8-3.10), or fails with
# instructions. Order: PYTHON from the environment, python3.10 on PATH, pyenv's versions.
set -eu
ok() { "$1" -c 'import sys; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 10) else 1)' 2>/dev/null; }
if [ -n "${PYTHON:-}" ] && ok "$PYTHON"; then command -v "$PYTHON"; exit 0; fi
for candidate in python3.10 python3.9 python3.8; do
  if command -v "$candidate" >/dev/null 2>&1 && ok "$candidate"; then command -v "$candidate"; exit 0; fi
done
for dir in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10.* "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9.*; do
  if [ -x "$dir/bin/python" ] && ok "$dir/bin/python"; then echo "$dir/bin/python"; exit 0; fi
done
cat >&2 <<'MSG'
错误：未找到 Python 3.10（Rasa 3.6 需要 Python 3.8–3.10）。
Error: no Python 3.10 found (Rasa 3.6 needs Python 3.8 to 3.10). Install one, e.g.:
  - Debian/Ubuntu:  sudo apt-get install python3.10 python3.10-venv   (where packaged)
  - pyenv:          pyenv install 3.10.13
  - or point PYTHON at one:  make PYTHON=/path/to/python3.10 ...
MSG
exit 1
