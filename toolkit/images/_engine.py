"""Finding and talking to the Docker Engine (``DOCKER_HOST`` honoured, like the docker CLI)."""

from __future__ import annotations

import os

from toolkit.errors import EnvironmentProblem
from toolkit.images._reasons import short_reason

PING_TIMEOUT_SECONDS = 3
# Builds and pushes stream for minutes; the client's socket timeout must not cut them off.
LONG_OPERATION_TIMEOUT_SECONDS = 3600


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _connect(timeout: int):
    import docker
    from docker.errors import DockerException

    try:
        return docker.from_env(timeout=timeout)
    except DockerException as error:
        raise EnvironmentProblem(f"no Docker Engine at {engine_address()}: {_short(error)}") from None


def _short(error: BaseException) -> str:
    return short_reason(error)


def engine_status() -> tuple[bool, str]:
    """(available, reason). Fast: one ping with a short timeout. Never raises."""
    address = engine_address()
    if address.startswith("unix://") and not os.path.exists(address[len("unix://"):]):
        # Said without the docker SDK (its import is most of a plan's choice of where jobs run, on a machine
        # without Docker), in the words it would use.
        return False, f"no Docker Engine at {address}: No such file or directory"
    try:
        client = _connect(PING_TIMEOUT_SECONDS)
        try:
            client.ping()
            version = client.version().get("Version", "?")
        finally:
            client.close()
    except EnvironmentProblem as problem:
        return False, problem.message
    except Exception as error:  # any transport failure means "not reachable", whatever its type
        return False, f"no Docker Engine at {engine_address()}: {_short(error)}"
    return True, f"Docker Engine {version} at {engine_address()}"


def docker_client(timeout: int = LONG_OPERATION_TIMEOUT_SECONDS):
    """A connected docker SDK client, or EnvironmentProblem saying which address was tried."""
    available, reason = engine_status()
    if not available:
        raise EnvironmentProblem(
            reason, hint="start a Docker Engine or point DOCKER_HOST at one (CI: eval \"$(.ci/services/docker-up.sh)\")"
        )
    return _connect(timeout)


def image_present(reference: str) -> bool:
    """Whether the engine holds ``reference`` (``name:tag`` or ``name@sha256:...``) without pulling it."""
    from docker.errors import DockerException, ImageNotFound

    try:
        client = _connect(PING_TIMEOUT_SECONDS)
    except EnvironmentProblem:
        return False
    try:
        client.images.get(reference)
        return True
    except (ImageNotFound, DockerException):
        return False
    except Exception:  # transport failures: not usable, so not present
        return False
    finally:
        client.close()
