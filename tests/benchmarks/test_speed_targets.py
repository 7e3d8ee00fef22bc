"""The speed targets, measured side by side in one run: `parse` against the baselines on the same
files, on the same machine (run: .venv/bin/pytest -m benchmark -s tests/benchmarks/test_speed_targets.py).

1. One big ``-vv`` log of a single run (restic 0.14's real ``-vv`` lines repeated), text and
   ``--json -v``: ``parse`` against ``grep -cE`` with the summary lines' prefixes, and against a
   typical script (read it all, regex it).
2. A log of 100,000 appended runs against a log holding only the latest run: the first parse
   of it (cold: no resume point), and the nightly case (one more run appended, then a parse
   into the same ``.prom`` file as the night before, which reads on from its resume point).
3. Start-up: ``parse`` of a normal log against ``python -c pass``.

Every command runs as a whole process under GNU time (wall time, peak RSS); the table shows
medians of ``RESTIC_BENCH_RUNS`` runs (3) and the ratios of the medians.  The big logs are
``RESTIC_BENCH_BYTES`` long (1 GiB).  Nothing is asserted about speed: the figures are printed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from exporter.run_memory import memory_path

pytestmark = pytest.mark.benchmark

REAL = Path(__file__).parent.parent / "fixtures" / "real" / "0.14.0"
BIG_BYTES = int(os.environ.get("RESTIC_BENCH_BYTES", 1024**3))
RUNS = int(os.environ.get("RESTIC_BENCH_RUNS", 3))
APPENDED_RUNS = 100_000
TEXT_PREFIXES = r"^(Files:|Dirs:|Data Blobs:|Tree Blobs:|Added|processed |snapshot )"
JSON_PREFIXES = r'^\{"message_type":"(status|summary|error|exit_error)"'
TYPICAL_SCRIPT = (
    "import re, sys\n"
    "text = open(sys.argv[1], encoding='utf-8', errors='replace').read()\n"
    "print(len(re.findall(sys.argv[2], text, re.MULTILINE)))\n"
)


def _repeat_items(source: Path, out: Path, is_item: bytes, size: int) -> Path:
    """`source` with its item lines repeated (paths made distinct) until the log is `size` long:
    one run, its start, a great many items, its summary."""
    lines = source.read_bytes().splitlines(keepends=True)
    first_item = next(index for index, line in enumerate(lines) if is_item in line)
    last_item = max(index for index, line in enumerate(lines) if is_item in line)
    items = [line for line in lines[first_item : last_item + 1] if is_item in line]
    chunk = b"".join(
        line.replace(b"/src/", b"/srv/data/dir%d/" % copy) for copy in range(2000) for line in items
    )
    with out.open("wb") as log:
        log.writelines(lines[:first_item])
        written = 0
        while written < size:
            log.write(chunk)
            written += len(chunk)
        log.writelines(line for line in lines[first_item:] if is_item not in line)
    return out


def _measure(
    command: Sequence[str], tmp_path: Path, setup: Callable[[], None] = lambda: None
) -> tuple[float, float]:
    """Median wall seconds and largest peak RSS (MiB) over RUNS runs, after one warm-up;
    `setup` runs before each, untimed."""
    report = tmp_path / "time.txt"
    walls: list[float] = []
    peaks: list[float] = []
    for run in range(RUNS + 1):
        setup()
        # Output to a file, not /dev/null: GNU grep stops at its first match when it writes to
        # /dev/null.
        with (tmp_path / "stdout.txt").open("wb") as stdout:
            started = time.perf_counter()
            subprocess.run(
                ["/usr/bin/time", "-f", "%M", "-o", str(report), *command],
                stdout=stdout,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            elapsed = time.perf_counter() - started
        if run:
            walls.append(elapsed)
            peaks.append(int(report.read_text().split()[-1]) / 1024)
    return statistics.median(walls), max(peaks)


def _parse(log: Path, tmp_path: Path, output: str = "x.prom") -> list[str]:
    return [sys.executable, "-m", "exporter", "parse", str(log), "-o", str(tmp_path / output)]


def _forget(prom: Path) -> Callable[[], None]:
    """Before each run: no metrics file, so no resume point (the first parse of the log)."""

    def forget() -> None:
        prom.unlink(missing_ok=True)
        memory_path(prom).unlink(missing_ok=True)

    return forget


def _append_night(log: Path, one_run: Path, prom: Path) -> Callable[[], None]:
    """Before each run: the previous parse's resume point is there (the warm-up, or the run
    before, made it), and one more run is appended, as a nightly backup does."""

    def append() -> None:
        if not memory_path(prom).exists():
            _check_parse_into(log, prom)
        with log.open("ab") as out:
            out.write(one_run.read_bytes())

    return append


def _row(name: str, size: int, ours: tuple[float, float], base: tuple[float, float]) -> str:
    return (
        f"| {name} | {size / 1024**2:,.0f} MiB | {ours[0]:.2f} s | {base[0]:.2f} s | "
        f"{ours[0] / base[0]:.2f}x | {ours[1]:.0f} MiB | {base[1]:.0f} MiB |"
    )


def _check_parse(log: Path, tmp_path: Path) -> None:
    _check_parse_into(log, tmp_path / "x.prom")


def _check_parse_into(log: Path, prom: Path) -> None:
    result = subprocess.run(
        _parse(log, prom.parent, prom.name), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_speed_targets(tmp_path: Path) -> None:
    # As installed: the modules compiled once (a checkout run with PYTHONDONTWRITEBYTECODE=1
    # would compile 35 modules in every process, 40 to 110 ms of each start-up).
    root = Path(__file__).parent.parent.parent
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "exporter", "parsers"], cwd=root, check=True
    )
    rows = [
        "| case | log | parse (median) | baseline (median) | ratio | parse peak RSS | baseline peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    text = _repeat_items(REAL / "very_verbose.log", tmp_path / "vv.log", b"/src/", BIG_BYTES)
    json = _repeat_items(
        REAL / "json_verbose.log", tmp_path / "vv.json", b'"verbose_status"', BIG_BYTES
    )
    for name, log, prefixes in (
        ("-vv text vs grep -cE", text, TEXT_PREFIXES),
        ("--json -v vs grep -cE", json, JSON_PREFIXES),
    ):
        _check_parse(log, tmp_path)
        ours = _measure(_parse(log, tmp_path), tmp_path)
        grep = _measure(["grep", "-cE", prefixes, str(log)], tmp_path)
        rows.append(_row(name, log.stat().st_size, ours, grep))
        script = _measure([sys.executable, "-c", TYPICAL_SCRIPT, str(log), prefixes], tmp_path)
        rows.append(
            _row(name.replace("grep -cE", "read-all script"), log.stat().st_size, ours, script)
        )
    text.unlink()
    json.unlink()

    one_run = REAL / "default.log"
    appended = tmp_path / "appended.log"
    appended.write_bytes(one_run.read_bytes() * APPENDED_RUNS)
    _check_parse(appended, tmp_path)
    alone = _measure(_parse(one_run, tmp_path, "alone.prom"), tmp_path)
    size = appended.stat().st_size
    rows.append(
        _row(
            f"{APPENDED_RUNS:,} appended runs, first parse (cold, no resume point) vs the latest alone",
            size,
            _measure(
                _parse(appended, tmp_path, "cold.prom"),
                tmp_path,
                setup=_forget(tmp_path / "cold.prom"),
            ),
            alone,
        )
    )
    nightly = _measure(
        _parse(appended, tmp_path, "nightly.prom"),
        tmp_path,
        setup=_append_night(appended, one_run, tmp_path / "nightly.prom"),
    )
    rows.append(
        _row(
            f"{APPENDED_RUNS:,} appended runs, nightly: one more run appended, then parse into the "
            "same file (resumed) vs the latest alone",
            size,
            nightly,
            alone,
        )
    )
    bare = _measure([sys.executable, "-c", "pass"], tmp_path)
    for name, log in (("start-up, text log", one_run), ("start-up, --json log", REAL / "json.log")):
        rows.append(
            _row(
                f"{name} vs python -c pass",
                log.stat().st_size,
                _measure(_parse(log, tmp_path), tmp_path),
                bare,
            )
        )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    print(
        f"\n{os.cpu_count()} CPUs ({cpu}), Python {sys.version.split()[0]}, medians of {RUNS} runs\n"
    )
    print("\n".join(rows))
