#!/usr/bin/env bash
# Start (or reuse) a private Docker Engine and a private registry on 127.0.0.1, both owned by this script.
#
#   eval "$(.ci/services/docker-up.sh)"      # sets DOCKER_HOST and REGISTRY in the calling shell
#
# stdout: `export DOCKER_HOST=unix://...` and `export REGISTRY=127.0.0.1:PORT` (nothing else), also written to
# $TOOLKIT_SERVICES_DIR/env. Progress goes to stderr. Idempotent: running services are reused.
# Environment: TOOLKIT_SERVICES_DIR (default /tmp/toolkit-services), REGISTRY_PORT (default: a free port).
# Needs root, dockerd (Debian docker.io), docker-registry and curl. Stop with .ci/services/docker-down.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"

[ "$(id -u)" = 0 ] || die "dockerd needs root here (run as root)"
for tool in dockerd docker-registry curl; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install docker.io docker-registry curl)"
done
mkdir -p "$TOOLKIT_SERVICES_DIR"

start_dockerd() {
    if live_pid "$DOCKERD_PIDFILE" >/dev/null && docker_ping; then
        log "dockerd already running (pid $(cat "$DOCKERD_PIDFILE")), socket $DOCKER_SOCKET"
        return
    fi
    log "starting dockerd (log: $TOOLKIT_SERVICES_DIR/dockerd.log)"
    # This machine has no iptables / bridge privileges: no bridge network, no NAT. Builds and jobs therefore
    # use host networking or none at all.
    setsid dockerd \
        --host "unix://$DOCKER_SOCKET" \
        --data-root "$TOOLKIT_SERVICES_DIR/docker-data" \
        --exec-root "$TOOLKIT_SERVICES_DIR/docker-exec" \
        --pidfile "$DOCKERD_PIDFILE" \
        --storage-driver overlay2 \
        --iptables=false --ip6tables=false --bridge=none --ip-forward=false \
        </dev/null >"$TOOLKIT_SERVICES_DIR/dockerd.log" 2>&1 &
    local launcher=$!
    for _ in $(seq 1 120); do
        docker_ping && { log "dockerd up (pid $(cat "$DOCKERD_PIDFILE"))"; return; }
        kill -0 "$launcher" 2>/dev/null || break
        sleep 0.5
    done
    tail -20 "$TOOLKIT_SERVICES_DIR/dockerd.log" >&2 || true
    die "dockerd did not answer on $DOCKER_SOCKET"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_is_free() {
    python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# The port is part of every image name and lock made against this registry: keep it across restarts.
choose_port() {
    if [ -n "${REGISTRY_PORT:-}" ]; then
        echo "$REGISTRY_PORT"
    elif [ -s "$TOOLKIT_SERVICES_DIR/registry.port" ] && port_is_free "$(cat "$TOOLKIT_SERVICES_DIR/registry.port")"; then
        cat "$TOOLKIT_SERVICES_DIR/registry.port"
    else
        free_port
    fi
}

start_registry() {
    local port
    if live_pid "$REGISTRY_PIDFILE" >/dev/null && [ -s "$TOOLKIT_SERVICES_DIR/registry.port" ]; then
        port="$(cat "$TOOLKIT_SERVICES_DIR/registry.port")"
        if registry_ping "127.0.0.1:$port"; then
            log "registry already running (pid $(cat "$REGISTRY_PIDFILE")) on 127.0.0.1:$port"
            REGISTRY="127.0.0.1:$port"
            return
        fi
    fi
    port="$(choose_port)"
    # Our own config: the packaged one demands htpasswd auth and listens on every interface.
    cat >"$TOOLKIT_SERVICES_DIR/registry.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $TOOLKIT_SERVICES_DIR/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
CONFIG
    log "starting registry on 127.0.0.1:$port (log: $TOOLKIT_SERVICES_DIR/registry.log)"
    setsid docker-registry serve "$TOOLKIT_SERVICES_DIR/registry.yml" \
        </dev/null >"$TOOLKIT_SERVICES_DIR/registry.log" 2>&1 &
    echo $! >"$REGISTRY_PIDFILE"
    echo "$port" >"$TOOLKIT_SERVICES_DIR/registry.port"
    for _ in $(seq 1 60); do
        registry_ping "127.0.0.1:$port" && { REGISTRY="127.0.0.1:$port"; log "registry up"; return; }
        live_pid "$REGISTRY_PIDFILE" >/dev/null || break
        sleep 0.25
    done
    tail -20 "$TOOLKIT_SERVICES_DIR/registry.log" >&2 || true
    die "registry did not answer on 127.0.0.1:$port"
}

start_dockerd
start_registry
{
    echo "export DOCKER_HOST=unix://$DOCKER_SOCKET"
    echo "export REGISTRY=$REGISTRY"
} | tee "$ENV_FILE"
