"""Fixtures: `sluice` starts a fresh daemon for each test and makes sure it is
stopped afterwards; tests call `sluice.stop()` themselves before reading files,
since SIGTERM writes everything buffered before the process exits 0."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from support import Sluice


@pytest.fixture
def start_sluice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Sluice]]:
    """A factory: `start_sluice(SLUICE_PIPELINE_SHARDS="1")` starts one more daemon
    with extra settings, each with its own empty data root."""
    started: list[Sluice] = []

    def start(**overrides: str) -> Sluice:
        root = tmp_path_factory.mktemp("sluice-data")
        sluice = Sluice.start(root, **overrides)
        started.append(sluice)
        return sluice

    yield start
    for sluice in started:
        sluice.kill()


@pytest.fixture
def sluice(start_sluice: Callable[..., Sluice]) -> Sluice:
    """A running Sluice with default test settings (port 0, 1 s flush)."""
    return start_sluice()
