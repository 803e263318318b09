"""The server under load and while rendering: it never stops answering."""

from __future__ import annotations

import http.client
import json
import random
import statistics
import threading
import time
from pathlib import Path

from tests.sinks.conftest import Served

CLIENTS = 20
LOAD_S = 30.0


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_progress_while_rendering_and_the_server_still_answers(served: Served) -> None:
    # Minutes no other test asks for: a session that is not in the cache.
    query = "routine=tiny&variant=full&minutes=4"
    seen: list[dict[str, object]] = []
    slowest = 0.0
    cached = str(served.session("routine=tiny&variant=short")["audio"])
    deadline = time.monotonic() + 120
    while True:
        status, _, body = served.request("GET", f"/{served.token}/api/session?{query}")
        assert status == 200
        answer = json.loads(body)
        seen.append(answer)
        if answer["state"] == "ready":
            break
        assert answer["state"] in ("queued", "rendering"), answer
        began = time.monotonic()
        status, _, _ = served.request("GET", cached, {"Range": "bytes=0-65535"})
        slowest = max(slowest, time.monotonic() - began)
        assert status == 206
        assert time.monotonic() < deadline
        time.sleep(0.05)
    rendering = [a for a in seen if a["state"] == "rendering"]
    assert rendering, seen
    fractions = [int(a["done"]) / int(a["total"]) for a in rendering]
    assert fractions == sorted(fractions)
    assert any(0 < f < 1 for f in fractions)
    assert abs(int(seen[-1]["total_ms"]) - 240_000) < 1000
    print(
        f"progress seen: {len(rendering)} reports; slowest range answer meanwhile {slowest:.3f} s"
    )
    assert slowest < 1.0


def test_twenty_clients_fetching_ranges_for_thirty_seconds(served: Served) -> None:
    audio = str(served.session("routine=tiny&variant=full")["audio"])
    status, _, whole = served.request("GET", audio)
    assert status == 200
    pid = served.process.pid
    errors: list[str] = []
    latencies: list[float] = []
    sent = [0]
    lock = threading.Lock()
    stop = time.monotonic() + LOAD_S

    def client(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        try:
            while time.monotonic() < stop:
                start = rng.randrange(len(whole))
                end = min(start + rng.randrange(1, 256 * 1024), len(whole) - 1)
                began = time.monotonic()
                connection.request("GET", audio, headers={"Range": f"bytes={start}-{end}"})
                response = connection.getresponse()
                body = response.read()
                took = time.monotonic() - began
                with lock:
                    latencies.append(took)
                    sent[0] += len(body)
                    if response.status != 206 or body != whole[start : end + 1]:
                        errors.append(f"{response.status} for bytes={start}-{end}")
        except OSError as err:
            with lock:
                errors.append(repr(err))
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    samples = []
    while any(t.is_alive() for t in threads):
        samples.append(_rss_kib(pid))
        time.sleep(1)
    for thread in threads:
        thread.join()
    assert not errors, errors[:5]
    settled = samples[5:]  # after the first seconds' buffers and connections
    growth_mib = (max(settled[-5:]) - min(settled[:5])) / 1024
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(
        f"load: {CLIENTS} clients, {LOAD_S:.0f} s, {len(latencies)} range requests "
        f"({len(latencies) / LOAD_S:.0f}/s), {sent[0] / LOAD_S / 2**20:.1f} MiB/s, "
        f"median {statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"0 errors; server RSS {samples[0] / 1024:.1f} -> {samples[-1] / 1024:.1f} MiB "
        f"(max {max(samples) / 1024:.1f}), growth after warm-up {growth_mib:+.1f} MiB"
    )
    assert len(latencies) > CLIENTS * 10
    assert growth_mib < 8
