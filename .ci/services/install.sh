#!/usr/bin/env bash
# Install what the other .ci/services scripts need, when missing (Debian; run as root). Idempotent, quiet.
#
#   .ci/services/install.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -eq 0 ]; then
    log "services: everything installed"
    exit 0
fi
log "installing ${missing[*]}"
apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
