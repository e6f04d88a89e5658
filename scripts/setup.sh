#!/usr/bin/env bash
# Set up a development/demo environment: a virtualenv in .venv with the toolkit (editable) and its
# dev/demo dependencies, including FastQE 0.3.1 and the bundled spec's fastqe-report (dockerfiles/fastqe/,
# the same package its image installs) for host runs. Idempotent: re-running after the first time only
# reinstalls when pyproject.toml or fastqe-report changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
    echo "setup: Python 3.11 is required (found $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi

stamp=.venv/.toolkit-installed
want=$(cat pyproject.toml dockerfiles/fastqe/pyproject.toml dockerfiles/fastqe/fastqe_report/*.py | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing the toolkit and its dependencies (hail is large: about 2 minutes the first time)"
    log=$(mktemp)
    if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e '.[dev]' \
            && .venv/bin/python -m pip install ./dockerfiles/fastqe; } >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "setup: pip install failed (full log: $log)" >&2
        exit 1
    fi
    rm -f "$log"
    .venv/bin/toolkit --version >/dev/null
    echo "$want" > "$stamp"
fi
echo "setup: ready ($(.venv/bin/toolkit --version))"
