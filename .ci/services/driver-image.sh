#!/usr/bin/env bash
# Build and smoke-test the driver image (dockerfiles/toolkit/Dockerfile) from this checkout.
#
#   .ci/services/driver-image.sh [TAG]        # TAG defaults to jobspec-toolkit:local
#
# Needs DOCKER_HOST and the python:3.11-slim base (base-image.sh). Only pyproject.toml and toolkit/ are sent
# as build context (the checkout holds a virtualenv and caches that must not reach the engine).
# Checks `toolkit --version` in the image. Prints the image id on stdout.
set -euo pipefail
source "$(dirname "$0")/common.sh"

TAG="${1:-jobspec-toolkit:local}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
[ -n "${DOCKER_HOST:-}" ] || die "DOCKER_HOST is not set (eval \"\$(.ci/services/docker-up.sh)\" first)"

cd "$ROOT"
log "building $TAG"
tar -c --exclude=__pycache__ --exclude="*.pyc" pyproject.toml toolkit dockerfiles/toolkit/Dockerfile \
    | DOCKER_BUILDKIT=0 docker build --network host -f dockerfiles/toolkit/Dockerfile -t "$TAG" - >&2
version="$(docker run --rm --network none "$TAG" toolkit --version)"
expected="toolkit $(python3 -c 'import re,sys; print(re.search(r"__version__ = \"([^\"]+)\"", open("toolkit/__init__.py").read())[1])')"
[ "$version" = "$expected" ] || die "driver image says '$version', expected '$expected'"
log "$TAG: $version"
docker image inspect --format '{{.Id}}' "$TAG"
