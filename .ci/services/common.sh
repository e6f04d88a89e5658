# Shared settings of the .ci/services scripts (sourced, not run).
# Everything lives under one state folder so that several checkouts (or a developer and CI) don't collide.
TOOLKIT_SERVICES_DIR="${TOOLKIT_SERVICES_DIR:-/tmp/toolkit-services}"
DOCKER_SOCKET="$TOOLKIT_SERVICES_DIR/docker.sock"
DOCKERD_PIDFILE="$TOOLKIT_SERVICES_DIR/dockerd.pid"
REGISTRY_PIDFILE="$TOOLKIT_SERVICES_DIR/registry.pid"
ENV_FILE="$TOOLKIT_SERVICES_DIR/env"

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Prints the pid in FILE when that process is alive, else nothing (a stale file is not an error).
live_pid() {
    local file="$1" pid
    [ -s "$file" ] || return 1
    pid="$(cat "$file")"
    kill -0 "$pid" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}

docker_ping() {
    curl -fsS --max-time 2 --unix-socket "$DOCKER_SOCKET" http://localhost/_ping >/dev/null 2>&1
}

registry_ping() {
    curl -fsS --max-time 2 "http://$1/v2/" >/dev/null 2>&1
}
