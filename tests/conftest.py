from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import FakeEngine
from tests.sound import PulseServer, start_pulse, stop_pulse
from voiceguide.env import Environment
from voiceguide.speech.engine import SpeechEngine

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep every test out of the user's real cache and config folders."""
    home = tmp_path_factory.mktemp("home")
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))


@pytest.fixture
def fake_env(tmp_path: Path) -> Environment:
    """An environment whose speech engine is the deterministic fake."""

    def make(engine: str, voice: str | None, rate: int) -> SpeechEngine:
        return FakeEngine(voice, rate)

    return Environment(make_engine=make, cache_dir=tmp_path / "cache", workers=1)


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    yield CliRunner()


@pytest.fixture(scope="session")
def _pulse_servers() -> Iterator[list[PulseServer]]:
    servers = [start_pulse()]
    yield servers
    stop_pulse(servers[-1])


@pytest.fixture
def pulse(_pulse_servers: list[PulseServer]) -> PulseServer:
    """A private PulseAudio server with a null sink (no sound card needed), shared by
    the tests; should it have died, a new one (a clean-clone run once found it gone:
    "Connection refused"), and what it said when it ended goes to the test's log."""
    server = _pulse_servers[-1]
    if server.process.poll() is not None:
        said = (
            server.process.stderr.read().decode(errors="replace") if server.process.stderr else ""
        )
        print(f"PulseAudio had ended (exit {server.process.returncode}): {said.strip()}")
        stop_pulse(server)
        _pulse_servers.append(start_pulse())
    return _pulse_servers[-1]
