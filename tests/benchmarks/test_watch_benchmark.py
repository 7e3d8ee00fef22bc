"""watch mode: does the daemon keep up?  Whole daemon processes (real inotify), measured side by
side in one run and printed as one table of medians at the end:

* a log written at 50 MB/s for 10 s (restic 0.14 ``-vv`` item lines, then a summary): how far
  behind the ``.prom`` is when the writes stop (until it shows the final summary), the daemon's
  CPU seconds per wall second meanwhile, and how long SIGTERM then takes;
* idle CPU with 100 watched logs, in one directory and in 100 directories;
* one change (a run appended to one log, after a quiet period, default settings): the time until
  the ``.prom`` shows it, and the daemon's CPU for it, with 1 and with 1,000 watched logs;
* in-process: write -> ``.prom`` latency with debounce 0 and with the default.

Run: pytest -m benchmark -s tests/benchmarks/test_watch_benchmark.py.  CPU is read from
/proc/PID/stat (user + system, the daemon's threads included).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from exporter.config import DEFAULT_DEBOUNCE_SECONDS, Config, Job
from exporter.watch import Daemon

pytestmark = pytest.mark.benchmark
FIXTURES = Path(__file__).parent.parent / "fixtures"
GOOD = (FIXTURES / "restic-0.14" / "backup1.log").read_text()
FAILED = (FIXTURES / "restic-0.14" / "fatal_pw.log").read_text()
VERY_VERBOSE = (FIXTURES / "real" / "0.14.0" / "very_verbose.log").read_bytes()

RATE_BYTES_PER_SECOND = 50_000_000
WRITE_SECONDS = 10.0
WRITE_BYTES = 64 * 1024
"""One write of the fast writer: whole lines, about this long (restic writes a line at a time;
the kernel merges the inotify events of writes that follow each other)."""
FAST_RUNS = 5
IDLE_SECONDS = 24.0
CHANGES = 20
FINAL_FILES_NEW = 777

ROWS: list[tuple[str, str]] = []


@pytest.fixture(scope="module", autouse=True)
def print_table() -> Iterator[None]:
    yield
    if ROWS:
        print("\n\n| case | measured (median) |\n|---|---|")
        for case, figure in ROWS:
            print(f"| {case} | {figure} |")


def _vv_parts() -> tuple[bytes, bytes, bytes]:
    """The -vv log's start, a block of its item lines (paths made distinct) about WRITE_BYTES
    long, and its summary (with FINAL_FILES_NEW new files, to tell it from any other)."""
    lines = VERY_VERBOSE.splitlines(keepends=True)
    is_item = [b"/src/" in line for line in lines]
    first, last = is_item.index(True), len(is_item) - 1 - is_item[::-1].index(True)
    items = [line for line in lines[first : last + 1] if b"/src/" in line]
    block = b""
    copy = 0
    while len(block) < WRITE_BYTES:
        block += b"".join(line.replace(b"/src/", b"/srv/data/dir%d/" % copy) for line in items)
        copy += 1
    summary = b"".join(line for line in lines[first:] if b"/src/" not in line)
    summary = summary.replace(b"Files:           1 new", b"Files:         %d new" % FINAL_FILES_NEW)
    assert b"%d new" % FINAL_FILES_NEW in summary
    return b"".join(lines[:first]), block, summary


def test_a_log_written_at_50_mb_per_s(tmp_path: Path) -> None:
    start, block, summary = _vv_parts()
    final = b'state="new"} %d.0' % FINAL_FILES_NEW
    lags, cores, stops, rates = [], [], [], []
    for run in range(FAST_RUNS):
        # The daemon publishes once per debounce window from the first write on: end the
        # writes at a different point of the window each run, not always at its start.
        seconds = WRITE_SECONDS + DEFAULT_DEBOUNCE_SECONDS * run / FAST_RUNS
        log, prom = tmp_path / f"vv{run}.log", tmp_path / f"vv{run}.prom"
        log.write_bytes(start)
        daemon = _start_daemon(tmp_path, [(log, prom)])
        try:
            _wait(prom.exists, timeout=30)
            cpu_before, began = _cpu_seconds(daemon.pid), time.monotonic()
            written = 0
            with log.open("ab", buffering=0) as out:
                while (elapsed := time.monotonic() - began) < seconds:
                    if written < RATE_BYTES_PER_SECOND * elapsed:
                        written += out.write(block)
                    else:
                        time.sleep(0.0005)
                stopped_writing = time.monotonic()
                out.write(summary)
            _wait(partial(_contains, prom, final), timeout=300)
            caught_up = time.monotonic()
            cpu = _cpu_seconds(daemon.pid) - cpu_before
            lags.append(caught_up - stopped_writing)
            cores.append(cpu / (caught_up - began))
            rates.append(written / 1e6 / seconds)
            sent = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
            stops.append(time.monotonic() - sent)
        finally:
            _end(daemon)
            log.unlink()
    rate = statistics.median(rates)
    case = f"log written at {rate:.0f} MB/s for {WRITE_SECONDS:g} s and more, {FAST_RUNS} runs"
    ROWS.append((f"{case}: .prom behind when the writes stop", _seconds(lags)))
    ROWS.append((f"{case}: daemon CPU s / wall s", _spread(cores, "{:.2f}")))
    ROWS.append((f"{case}: SIGTERM to exit", _seconds(stops)))


@pytest.mark.parametrize("directories", [1, 100], ids=["one directory", "100 directories"])
def test_idle_cpu_with_100_logs(tmp_path: Path, directories: int) -> None:
    jobs = _jobs(tmp_path, 100, directories)
    daemon = _start_daemon(tmp_path, jobs)
    try:
        _wait(lambda: all(prom.exists() for _, prom in jobs), timeout=120)
        time.sleep(3)  # let the first refresh of every job and its trailing events pass
        before = _cpu_seconds(daemon.pid)
        time.sleep(IDLE_SECONDS)
        used = _cpu_seconds(daemon.pid) - before
    finally:
        _end(daemon)
    where = "one directory" if directories == 1 else f"{directories} directories"
    ROWS.append(
        (
            f"idle, 100 logs in {where}",
            f"{used:.3f} CPU s in {IDLE_SECONDS:g} s ({used / IDLE_SECONDS * 100:.3f} % of a core)",
        )
    )


@pytest.mark.parametrize(
    ("logs", "directories"), [(1, 1), (1000, 1), (1000, 1000)], ids=["1", "1000", "1000 dirs"]
)
def test_the_cost_of_one_change(tmp_path: Path, logs: int, directories: int) -> None:
    jobs = _jobs(tmp_path, logs, directories)
    (log, prom) = jobs[0]
    daemon = _start_daemon(tmp_path, jobs)
    latencies = []
    try:
        _wait(lambda: all(prom.exists() for _, prom in jobs), timeout=600)
        time.sleep(3)  # let the first refresh of every job and its trailing events pass
        cpu_before = _cpu_seconds(daemon.pid)
        for index in range(CHANGES):
            time.sleep(DEFAULT_DEBOUNCE_SECONDS + 0.2)  # quiet: the change is handled at once
            text, expected = (
                (FAILED, b'job="j0"} 0.0') if index % 2 == 0 else (GOOD, b'job="j0"} 1.0')
            )
            started = time.perf_counter()
            with log.open("a") as out:
                out.write(text)
            _wait(partial(_success_is, prom, expected))
            latencies.append(time.perf_counter() - started)
        time.sleep(DEFAULT_DEBOUNCE_SECONDS + 0.2)  # its trailing events
        # CPU is counted in clock ticks (10 ms): the mean over all changes is the figure
        cpu = (_cpu_seconds(daemon.pid) - cpu_before) / CHANGES
    finally:
        _end(daemon)
    where = "" if directories == 1 else f" in {directories} directories"
    latencies.sort()
    ROWS.append(
        (
            f"one change, {logs} watched log(s){where}: write -> .prom",
            f"{statistics.median(latencies) * 1000:.1f} ms (max {latencies[-1] * 1000:.1f} ms, "
            f"{len(latencies)} changes)",
        )
    )
    ROWS.append(
        (
            f"one change, {logs} watched log(s){where}: daemon CPU (mean)",
            f"{cpu * 1000:.1f} ms",
        )
    )


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
    p99 = latencies[min(len(latencies) - 1, round(len(latencies) * 0.99))]
    ROWS.append(
        (
            f"in-process, debounce {debounce:g} s, writes {pause:g} s apart: write -> .prom",
            f"{statistics.median(latencies) * 1000:.1f} ms (p99 {p99 * 1000:.1f} ms, max "
            f"{latencies[-1] * 1000:.1f} ms, {len(latencies)} writes)",
        )
    )


def _jobs(tmp_path: Path, count: int, directories: int) -> list[tuple[Path, Path]]:
    jobs = []
    for index in range(count):
        directory = tmp_path / f"logs{index % directories}"
        directory.mkdir(exist_ok=True)
        log = directory / f"j{index}.log"
        log.write_text(GOOD)
        jobs.append((log, tmp_path / f"j{index}.prom"))
    return jobs


def _start_daemon(tmp_path: Path, jobs: list[tuple[Path, Path]]) -> subprocess.Popen[bytes]:
    config = tmp_path / "exporter.toml"
    config.write_text(
        "".join(
            f'[[job]]\nlog = "{log}"\noutput = "{prom}"\nlabels = {{ job = "{log.stem}" }}\n'
            for log, prom in jobs
        )
    )
    with (tmp_path / "daemon.err").open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "exporter", "watch", "-c", str(config)], stderr=stderr
        )


def _end(daemon: subprocess.Popen[bytes]) -> None:
    if daemon.poll() is None:
        daemon.terminate()
        daemon.wait(timeout=60)


def _contains(path: Path, expected: bytes) -> bool:
    try:
        return expected in path.read_bytes()
    except FileNotFoundError:
        return False


def _success_is(path: Path, expected: bytes) -> bool:
    return _contains(path, b"\nrestic_backup_success{" + expected)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _seconds(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def _spread(values: list[float], form: str) -> str:
    return (
        f"{form.format(statistics.median(values))} (min {form.format(min(values))}, "
        f"max {form.format(max(values))})"
    )


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.001)
