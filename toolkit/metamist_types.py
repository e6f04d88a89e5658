"""What a stock Metamist knows, shipped as data (toolkit/metamist_analysis_types.toml says where it comes from).

Light on purpose (tomllib only; graphql-core when the schema is asked for): ``toolkit validate`` reads it
offline, without importing ``metamist`` (whose import reads the environment and pulls in its HTTP and cloud
stack, about a second).
"""

from __future__ import annotations

import functools
import importlib.util
import tomllib
from pathlib import Path

_DATA = Path(__file__).with_name("metamist_analysis_types.toml")


@functools.cache
def shipped_analysis_types() -> tuple[str, ...]:
    """The Analysis types Metamist's database is seeded with."""
    with _DATA.open("rb") as handle:
        return tuple(tomllib.load(handle)["analysis_types"])


class SchemaUnavailable(Exception):
    pass


def schema_path() -> Path:
    """The GraphQL schema bundled in the installed ``metamist`` package (the API that client was made for)."""
    spec = importlib.util.find_spec("metamist")
    if spec is None or not spec.submodule_search_locations:
        raise SchemaUnavailable("the metamist package is not installed")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "graphql" / "schema.graphql"
        if candidate.is_file():
            return candidate
    raise SchemaUnavailable("the metamist package has no graphql/schema.graphql")


@functools.cache
def bundled_schema():
    """The bundled schema, built once per process: spec validation and the client's own check of each query
    (toolkit.metamist_connection) share it. It is the metamist package's own, valid as shipped: not checked
    again as a schema definition (14 ms to build instead of 23 ms, on the way to every command's first
    question)."""
    from graphql import build_schema

    return build_schema(schema_path().read_text(encoding="utf-8"), assume_valid_sdl=True)
