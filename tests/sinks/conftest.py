"""A real `voiceguide serve` on 127.0.0.1, shared by the server's tests."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ROUTINES = ROOT / "tests" / "data" / "routines"


@dataclass
class Served:
    """A running server: its process, address, token and folders."""

    process: subprocess.Popen[str]
    port: int
    token: str
    home: Path
    banner: list[str]

    @property
    def renders(self) -> Path:
        return self.home / "cache" / "voiceguide" / "renders"

    @property
    def state(self) -> Path:
        return self.home / "state" / "voiceguide"

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request exactly as given (no normalising of the path) and return the answer."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            connection.close()

    def session(self, query: str) -> dict[str, object]:
        """Ask for a session and wait until it is rendered; return the server's answer."""
        deadline = time.monotonic() + 120
        while True:
            status, _, body = self.request("GET", f"/{self.token}/api/session?{query}")
            assert status == 200, body
            answer: dict[str, object] = json.loads(body)
            if answer["state"] == "ready":
                return answer
            assert answer["state"] != "failed", answer
            assert time.monotonic() < deadline, answer
            time.sleep(0.2)


def free_port() -> int:
    """Return a port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_env(home: Path) -> dict[str, str]:
    """Return an environment whose user folders are all under home."""
    env = dict(os.environ)
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        env[name] = str(home / name.lower().removeprefix("xdg_").removesuffix("_home"))
    env["PYTHONPATH"] = str(ROOT)
    return env


def start_serve(home: Path, *args: str) -> Served:
    """Start `voiceguide serve` with the system voice on a free loopback port."""
    port = free_port()
    command = [sys.executable, "-m", "voiceguide", "serve", "--port", str(port), *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=serve_env(home),
        cwd=ROOT,
    )
    banner: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        banner.append(line.rstrip("\n"))
        if line.startswith("Ctrl-C stops it"):
            break
    else:
        raise AssertionError("serve ended early:\n" + "\n".join(banner))
    token = (home / "config" / "voiceguide" / "serve-token").read_text().strip()
    return Served(process, port, token, home, banner)


def stop_serve(served: Served) -> str:
    """Stop the server as Ctrl-C would; return what it printed after its banner."""
    served.process.send_signal(signal.SIGINT)
    try:
        out, _ = served.process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        served.process.kill()
        out, _ = served.process.communicate()
    return out


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`voiceguide serve` with only the tiny routine, its two versions rendered."""
    home = tmp_path_factory.mktemp("serve-home")
    server = start_serve(home, "--engine", "system", "--no-builtins", "--dir", str(ROUTINES))
    try:
        for variant in ("short", "full"):
            server.session(f"routine=tiny&variant={variant}")
        yield server
    finally:
        stop_serve(server)
