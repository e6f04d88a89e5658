#!/usr/bin/env bash
# Make the local stand-in for `python:3.10-slim` (no container registry can be reached from these machines).
#
#   .ci/services/base-image.sh CACHE_DIR [TAG...]   # TAGs default to python:3.10-slim python:3.11-slim
#                                                   # python:3.10-slim-bookworm (the FastQC image pins bookworm)
#
# Needs DOCKER_HOST (from docker-up.sh) and mmdebstrap. Builds a Debian bookworm rootfs with python3, pip and
# the CA certificates, adds this machine's extra CA certificates (HTTPS to the package registries goes through
# a local CA), lets pip install system-wide, and `docker import`s it as TAG. The rootfs tarball is cached in
# CACHE_DIR under a key of this script + the extra certificates, so a rerun imports in seconds, and does
# nothing at all when the engine already has TAG with that key.
# Note: bookworm's python3 is 3.11 (the toolkit's driver Python); the python:3.10-slim tag is a name only.
set -euo pipefail
source "$(dirname "$0")/common.sh"

CACHE_DIR="${1:?usage: base-image.sh CACHE_DIR [TAG...]}"
TAGS=("${@:2}")
[ ${#TAGS[@]} -gt 0 ] || TAGS=(python:3.10-slim python:3.11-slim python:3.10-slim-bookworm)
TAG="${TAGS[0]}"
SUITE="${BASE_IMAGE_SUITE:-bookworm}"
MIRROR="${BASE_IMAGE_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="python3,python3-pip,python3-venv,python-is-python3,ca-certificates,bash,procps"
KEY_LABEL="org.jobspec-toolkit.base-key"

[ -n "${DOCKER_HOST:-}" ] || die "DOCKER_HOST is not set (eval \"\$(.ci/services/docker-up.sh)\" first)"
command -v docker >/dev/null || die "docker CLI not found"
mkdir -p "$CACHE_DIR"

shopt -s nullglob
EXTRA_CERTS=(/usr/local/share/ca-certificates/*.crt)
shopt -u nullglob

key="$( { cat "$0"; echo "$SUITE $MIRROR $PACKAGES"; cat "${EXTRA_CERTS[@]}" /dev/null; } | sha256sum | cut -c1-16)"
tarball="$CACHE_DIR/python-standin-$SUITE-$key.tar"

existing="$(docker image inspect --format "{{ index .Config.Labels \"$KEY_LABEL\" }}" "$TAG" 2>/dev/null || true)"
tag_all() {
    local other
    for other in "${TAGS[@]:1}"; do docker tag "$TAG" "$other"; done
}

if [ "$existing" = "$key" ]; then
    tag_all
    log "${TAGS[*]} already imported (base key $key)"
    exit 0
fi

if [ ! -s "$tarball" ]; then
    command -v mmdebstrap >/dev/null || die "mmdebstrap not found (apt-get install mmdebstrap)"
    log "building $SUITE rootfs with mmdebstrap -> $tarball"
    hooks=()
    if [ ${#EXTRA_CERTS[@]} -gt 0 ]; then
        hooks+=(--customize-hook="mkdir -p \"\$1/usr/local/share/ca-certificates\"")
        hooks+=(--customize-hook="copy-in ${EXTRA_CERTS[*]} /usr/local/share/ca-certificates/")
    fi
    hooks+=(--customize-hook='chroot "$1" update-ca-certificates')
    # PEP 668: Debian marks its Python externally managed; images pip-install into it on purpose.
    hooks+=(--customize-hook='printf "[global]\nbreak-system-packages = true\ncert = /etc/ssl/certs/ca-certificates.crt\n" > "$1/etc/pip.conf"')
    hooks+=(--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*')
    # --format=tar: without it a name ending in .tar may silently become a directory.
    mmdebstrap --variant=minbase --format=tar --include="$PACKAGES" \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        "${hooks[@]}" "$SUITE" "$tarball.partial" "$MIRROR" >&2
    mv "$tarball.partial" "$tarball"
    # one rootfs is enough: drop those made under older keys
    find "$CACHE_DIR" -maxdepth 1 -name 'python-standin-*.tar' ! -name "$(basename "$tarball")" -delete
else
    log "using cached rootfs $tarball"
fi

log "importing $tarball as $TAG"
docker import \
    --change "LABEL $KEY_LABEL=$key" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    "$tarball" "$TAG" >/dev/null
tag_all
log "${TAGS[*]} ready (base key $key)"
