"""Fixtures for the engine's tests: an open store on a fresh SQLite file."""

import pytest

from smsengine.engine.store import Store


@pytest.fixture
async def store(tmp_path):
    store = Store(tmp_path / "store.db")
    await store.open()
    yield store
    await store.close()
