"""Where the embedded server keeps its data by default (light: imported by the CLI at start-up)."""

from __future__ import annotations

import os
from pathlib import Path

DB_FILE_NAME = "metadata.sqlite"


def default_home() -> Path:
    """``$TOOLKIT_HOME`` if set, else ``$XDG_DATA_HOME/toolkit``, else ``~/.local/share/toolkit``."""
    explicit = os.environ.get("TOOLKIT_HOME")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg).expanduser() / "toolkit"
    return Path.home() / ".local" / "share" / "toolkit"


def default_db_path() -> Path:
    return default_home() / DB_FILE_NAME
