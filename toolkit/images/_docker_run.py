"""What Hail's LocalBackend needs to run jobs in containers on an engine like ours."""

from __future__ import annotations

import os

from toolkit.spec.models import parse_size


def local_backend_docker_flags(network: str = "none") -> str:
    """``extra_docker_run_flags`` for ``hailtop.batch.LocalBackend``.

    Hail glues this string straight after ``--entrypoint=''``, hence the leading space. It adds neither
    ``--rm`` (containers would pile up) nor a network choice (the job must not reach the network). Files the
    container writes into the shared scratch folder belong to the caller's uid, so that Hail can delete them.
    """
    flags = f" --rm --network {network}"
    if os.getuid() != 0:
        flags += f" --user {os.getuid()}:{os.getgid()}"
    return flags


def docker_memory(memory: str | int) -> str:
    """A memory size as plain bytes, for ``job.memory()`` when the job runs under ``docker run``.

    LocalBackend passes ``job.memory`` to ``docker run -m`` as written; Docker CLI 28 rejects Kubernetes-style
    units such as ``1Gi``, but always accepts a byte count (and Hail's own parser accepts one too).
    """
    return str(parse_size(memory))
