"""Which registry, and how an image is named in it."""

from __future__ import annotations

import os

CPG_REGISTRY = "australia-southeast1-docker.pkg.dev/cpg-common/images"
REGISTRY_ENV = "TOOLKIT_REGISTRY"
# cpg-utils has no key for the registry itself (its image_path hard-codes cpg-common); ours lives beside it.
REGISTRY_CONFIG_PATH = ("toolkit", "image_registry")


def _registry_from_cpg_config() -> str | None:
    if not os.environ.get("CPG_CONFIG_PATH"):
        return None
    from toolkit.cpg_config import retrieve

    try:
        value = retrieve(list(REGISTRY_CONFIG_PATH), default=None)
    except Exception:  # an unreadable config is reported by the verbs that need it, not here
        return None
    return str(value) if value else None


def resolve_registry(explicit: str | None = None) -> str:
    """--registry, else $TOOLKIT_REGISTRY, else cpg-utils config [toolkit] image_registry, else CPG's."""
    for candidate in (explicit, os.environ.get(REGISTRY_ENV), _registry_from_cpg_config(), CPG_REGISTRY):
        if candidate:
            return candidate.rstrip("/")
    return CPG_REGISTRY


def tagged_reference(registry: str, name: str, tag: str) -> str:
    return f"{registry}/{name}:{tag}"


def digest_reference(registry: str, name: str, digest: str) -> str:
    return f"{registry}/{name}@{digest}"
