"""End-to-end fixtures: an emulator whose jobs take long enough to be interrupted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator import EmulatorConfig, create_app
from tests.emulator_fixtures import ServerThread


@pytest.fixture
def slow_emulator_server() -> Iterator[str]:
    """A real emulator server whose jobs each take about two seconds."""
    with ServerThread(create_app(EmulatorConfig(job_seconds=2.0))) as base_url:
        yield base_url
