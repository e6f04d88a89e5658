#!/usr/bin/env bash
# Install what the other .ci/services scripts and the browser tests need, when missing (Debian; run as root).
# Idempotent, quiet.
#
#   .ci/services/install.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v curl >/dev/null || missing+=(curl)
# The browser tests (tests/results): Debian's Chromium and its driver, and a colour emoji font for the reports.
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)
# Host runs of the bundled jobspecs/fastqc.yaml (tests/bundled): Debian's FastQC (about 10 MB next to the JRE
# that hail already needs).
command -v fastqc >/dev/null || missing+=(fastqc)
if [ ${#missing[@]} -eq 0 ]; then
    log "services: everything installed"
    exit 0
fi
log "installing ${missing[*]}"
apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
