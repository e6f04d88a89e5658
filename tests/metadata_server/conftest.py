"""Fixtures: an embedded metadata server on a free port, and the metamist client pointed at it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from toolkit.metadata_server import start_server

# A copy of shared/metamist-golden, kept in the repository so the tests run in any clone.
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "data" / "metamist-golden"


def golden(name: str):
    return json.loads((GOLDEN_DIR / name).read_text())


@pytest.fixture
def restore_metamist_env():
    saved = {key: os.environ.get(key) for key in ("SM_URL", "SM_ENVIRONMENT")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _connect(url: str):
    from toolkit import metamist_connection

    return metamist_connection.connect(url, local=True)


@pytest.fixture
def server(tmp_path, restore_metamist_env):
    """A fresh, empty server, with the metamist client pointed at it."""
    running = start_server(db_path=tmp_path / "metadata.sqlite")
    _connect(running.url)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """A server holding the bundled demo project (shared by a module's tests: they only read)."""
    from toolkit.metadata_server import load_demo

    folder = tmp_path_factory.mktemp("demo")
    load_demo(folder / "metadata.sqlite")
    saved = {key: os.environ.get(key) for key in ("SM_URL", "SM_ENVIRONMENT")}
    running = start_server(db_path=folder / "metadata.sqlite")
    _connect(running.url)
    yield running
    running.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
