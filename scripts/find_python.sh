#!/usr/bin/env sh
# Prints the path of a Python >= 3.12 (Django 6 needs it), or fails with a clear message.
# Looks at $PYTHON, then python3.14 .. python3.12 and python3 on PATH, then pyenv installs.
for candidate in "${PYTHON:-}" python3.14 python3.13 python3.12 python3 \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
  [ -n "$candidate" ] || continue
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if "$path" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' \
      >/dev/null 2>&1; then
    echo "$path"
    exit 0
  fi
done
echo "Vitals needs Python 3.12 or newer (Django 6); none was found. Set PYTHON=/path/to/python3.12." >&2
exit 1
