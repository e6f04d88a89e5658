#!/usr/bin/env bash
# Set up, start what the tests need, run them, stop what was started.
#
#   scripts/test.sh [pytest arguments...]
#
# The tests that need a Docker Engine (marked `docker`) run when this script can start one: it installs
# Debian's docker.io, docker-registry and mmdebstrap (as root), starts a private dockerd and registry on
# 127.0.0.1 (.ci/services/docker-up.sh), and makes the local base images (.ci/services/base-image.sh,
# cached in .ci-cache/). Without root or apt they are reported as skipped, never as passed; with
# TOOLKIT_REQUIRE_DOCKER=1 (CI) a missing engine is an error instead. The same install step adds Debian's
# FastQC, which the tests marked `host_tools` need (with MultiQC, which setup.sh --with-multiqc installs).
set -euo pipefail
cd "$(dirname "$0")/.."

# --with-multiqc: the host runs of jobspecs/multiqc.yaml in tests/bundled need MultiQC next to the toolkit
scripts/setup.sh --with-multiqc

want_docker=${TOOLKIT_TEST_DOCKER:-1}
require_docker=${TOOLKIT_REQUIRE_DOCKER:-0}
services_started=0

stop_services() {
    if [ "$services_started" = 1 ]; then
        .ci/services/docker-down.sh >&2 || true
    fi
}
trap stop_services EXIT

if [ "$want_docker" = 1 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        .ci/services/install.sh
    fi
    if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null 2>&1 && command -v docker-registry >/dev/null 2>&1; then
        services_started=1
        eval "$(.ci/services/docker-up.sh)"
        export DOCKER_HOST REGISTRY
        .ci/services/base-image.sh .ci-cache >&2
    elif [ "$require_docker" = 1 ]; then
        echo "test: TOOLKIT_REQUIRE_DOCKER=1 but no Docker Engine can be started here" >&2
        exit 1
    else
        echo "test: no Docker Engine here: tests marked 'docker' will be reported as skipped" >&2
    fi
fi

.venv/bin/python -m pytest "$@"
