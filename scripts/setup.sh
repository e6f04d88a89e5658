#!/usr/bin/env bash
# Set up a development/demo environment: a virtualenv in .venv with the toolkit (editable) and its
# dev/demo dependencies, and the bundled specs' own programs for host runs (--execution host): FastQE 0.3.1
# with fastqe-report (dockerfiles/fastqe/, the same package its image installs), fastqc-group
# (dockerfiles/fastqc/) and read-checksums (dockerfiles/read-checksums/).
#
#   scripts/setup.sh [--with-multiqc]
#
# --with-multiqc also installs MultiQC for host runs of jobspecs/multiqc.yaml, pinned as in its image
# (dockerfiles/multiqc/constraints.txt), with multiqc-storage-fallback (dockerfiles/multiqc/), in a virtualenv
# of its own (.venv/multiqc, both linked into .venv/bin: MultiQC's pins would clash with hail's). It is large:
# about 1.1 GB and a minute. FastQC itself comes from Debian (`apt-get install fastqc`, as root), not from
# here. Containers need none of this: each image has its tools.
# Idempotent: re-running after the first time only reinstalls what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

with_multiqc=0
for arg in "$@"; do
    case "$arg" in
        --with-multiqc) with_multiqc=1 ;;
        *) echo "setup: unknown argument $arg (usage: scripts/setup.sh [--with-multiqc])" >&2; exit 2 ;;
    esac
done

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
host_tools=(dockerfiles/fastqe dockerfiles/fastqc dockerfiles/read-checksums)
want=$(cat pyproject.toml dockerfiles/fastqe/pyproject.toml dockerfiles/fastqe/fastqe_report/*.py \
    dockerfiles/fastqc/pyproject.toml dockerfiles/fastqc/*.py dockerfiles/read-checksums/pyproject.toml \
    dockerfiles/read-checksums/*.py | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing the toolkit and its dependencies (hail is large: about 2 minutes the first time)"
    log=$(mktemp)
    if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e '.[dev]' \
            && .venv/bin/python -m pip install "${host_tools[@]/#/./}"; } >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "setup: pip install failed (full log: $log)" >&2
        exit 1
    fi
    rm -f "$log"
    .venv/bin/toolkit --version >/dev/null
    echo "$want" > "$stamp"
fi
# The package's own bytecode, as a regular (non-editable) install compiles it: with PYTHONDONTWRITEBYTECODE set
# (as on these machines) every command would otherwise compile the toolkit's modules again (about 0.15 s).
# Cheap when nothing changed; Python ignores a .pyc whose source has changed since.
.venv/bin/python -m compileall -q toolkit >/dev/null

if [ "$with_multiqc" = 1 ]; then
    stamp=.venv/multiqc/.installed
    # the version the spec's image installs (its build arg VERSION)
    version=$(.venv/bin/python -c 'from toolkit.spec import load_spec
print(load_spec("jobspecs/multiqc.yaml").model.image.build_args["VERSION"])')
    want=$( { echo "$version"; cat dockerfiles/multiqc/constraints.txt dockerfiles/multiqc/pyproject.toml \
        dockerfiles/multiqc/*.py; } | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "setup: installing MultiQC $version for host runs into .venv/multiqc (about 1.1 GB, a minute)"
        log=$(mktemp)
        rm -rf .venv/multiqc
        if ! { "$PYTHON" -m venv .venv/multiqc \
                && .venv/multiqc/bin/python -m pip install -c dockerfiles/multiqc/constraints.txt "multiqc==$version" \
                && .venv/multiqc/bin/python -m pip uninstall -y polars-runtime-32 \
                && .venv/multiqc/bin/python -m pip install ./dockerfiles/multiqc; } >"$log" 2>&1; then
            tail -n 40 "$log" >&2
            echo "setup: MultiQC install failed (full log: $log)" >&2
            exit 1
        fi
        rm -f "$log"
        ln -sfn ../multiqc/bin/multiqc .venv/bin/multiqc
        ln -sfn ../multiqc/bin/multiqc-storage-fallback .venv/bin/multiqc-storage-fallback
        .venv/bin/multiqc --version >/dev/null
        echo "$want" > "$stamp"
    fi
fi
command -v fastqc >/dev/null || echo "setup: note: host runs of jobspecs/fastqc.yaml need FastQC: apt-get install fastqc" >&2
echo "setup: ready ($(.venv/bin/toolkit --version))"
