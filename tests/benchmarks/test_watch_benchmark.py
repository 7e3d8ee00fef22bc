"""watch mode: latency from a log write to the rewritten .prom, and CPU used while idle.
Run: pytest -m benchmark -s tests/benchmarks."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from exporter.config import DEFAULT_DEBOUNCE_SECONDS, Config, Job
from exporter.watch import Daemon

pytestmark = pytest.mark.benchmark
FIXTURES = Path(__file__).parent.parent / "fixtures"
GOOD = (FIXTURES / "restic-0.14" / "backup1.log").read_text()
FAILED = (FIXTURES / "restic-0.14" / "fatal_pw.log").read_text()


@pytest.mark.parametrize(
    ("debounce", "pause"),
    [(0.0, 0.0), (DEFAULT_DEBOUNCE_SECONDS, DEFAULT_DEBOUNCE_SECONDS + 0.2)],
    ids=["debounce 0, back to back", "default debounce, a write after a quiet second"],
)
def test_latency_from_log_write_to_prom(tmp_path: Path, debounce: float, pause: float) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(GOOD)
    config = Config((Job(log, prom, {"job": "home"}),), debounce_seconds=debounce)
    daemon = Daemon(lambda: config)
    thread = threading.Thread(target=daemon.run, kwargs={"install_signal_handlers": False})
    thread.start()
    latencies = []
    try:
        _wait(lambda: prom.exists())
        for index in range(40 if not pause else 20):
            time.sleep(pause)  # quiet, so that the change is the first after a quiet period
            text = FAILED if index % 2 == 0 else GOOD
            expected = b'\nrestic_backup_success{job="home"} ' + (
                b"0.0" if index % 2 == 0 else b"1.0"
            )
            started = time.perf_counter()
            with log.open("a") as out:
                out.write(text)
            _wait(partial(_contains, prom, expected))
            latencies.append(time.perf_counter() - started)
    finally:
        daemon.request_stop()
        thread.join()
    latencies.sort()
    print(
        f"\nwrite -> .prom (debounce {debounce:g} s, writes {pause:g} s apart): median "
        f"{statistics.median(latencies) * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms over "
        f"{len(latencies)} appended runs"
    )


def test_idle_cpu(tmp_path: Path) -> None:
    logs = []
    for index in range(20):
        log = tmp_path / f"job{index}.log"
        log.write_text(GOOD)
        logs.append(f'[[job]]\nlog = "{log}"\noutput = "{tmp_path / f"job{index}.prom"}"\n')
    config = tmp_path / "exporter.toml"
    config.write_text("".join(logs))
    process = subprocess.Popen(
        [Path(sys.executable).parent / "restic-textfile-exporter", "watch", "-c", config],
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: (tmp_path / "job19.prom").exists())
        time.sleep(3)  # let the first refresh of every job finish
        before = _cpu_seconds(process.pid)
        time.sleep(20)
        used = _cpu_seconds(process.pid) - before
    finally:
        process.terminate()
        process.wait(timeout=20)
    print(
        f"\nidle, 20 jobs watched: {used:.3f} CPU seconds in 20 s ({used / 20 * 100:.2f} % of a core)"
    )
    assert used < 0.2  # no polling loop: an idle daemon sleeps


def _contains(path: Path, expected: bytes) -> bool:
    return expected in path.read_bytes()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.001)
