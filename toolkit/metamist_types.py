"""What a stock Metamist knows, shipped as data (toolkit/metamist_analysis_types.toml says where it comes from).

Light on purpose (tomllib only): ``toolkit validate`` reads it offline.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

_DATA = Path(__file__).with_name("metamist_analysis_types.toml")


@functools.cache
def shipped_analysis_types() -> tuple[str, ...]:
    """The Analysis types Metamist's database is seeded with."""
    with _DATA.open("rb") as handle:
        return tuple(tomllib.load(handle)["analysis_types"])
