#!/usr/bin/env bash
# Stop the dockerd and registry started by docker-up.sh, by their PID files (never by name).
#
#   .ci/services/docker-down.sh [--purge]
#
# --purge also deletes images, containers and registry blobs (the whole $TOOLKIT_SERVICES_DIR).
# Safe to run when nothing is running. Exit status 0 unless a process refused to stop.
set -uo pipefail
source "$(dirname "$0")/common.sh"

stop_by_pidfile() {
    local name="$1" file="$2" pid
    if ! pid="$(live_pid "$file")"; then
        log "$name not running"
        rm -f "$file"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null
    # dockerd stops its containers and its containerd first; give it time.
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 0; }
        sleep 0.5
    done
    log "$name (pid $pid) ignored TERM for 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null
    sleep 0.5
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) is still alive"
        return 1
    fi
    rm -f "$file"
}

status=0
stop_by_pidfile registry "$REGISTRY_PIDFILE" || status=1
stop_by_pidfile dockerd "$DOCKERD_PIDFILE" || status=1
rm -f "$ENV_FILE"
if [ "${1:-}" = "--purge" ] && [ "$status" = 0 ]; then
    # overlay mounts may outlive a killed daemon; unmount before deleting.
    grep -o " $TOOLKIT_SERVICES_DIR/[^ ]*" /proc/mounts | sort -r | while read -r mount; do umount "$mount" 2>/dev/null || true; done
    rm -rf "$TOOLKIT_SERVICES_DIR"
    log "removed $TOOLKIT_SERVICES_DIR"
fi
exit $status
