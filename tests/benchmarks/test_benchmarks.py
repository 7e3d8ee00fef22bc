"""Speed and memory of the one-shot path, measured on big logs (run: pytest -m benchmark -s).

Targets: memory does not grow with the log (the parser streams); a 100 MB log parses in seconds;
importing the CLI stays cheap.  The figures are printed, and the README quotes them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from exporter.reading import read_log

pytestmark = pytest.mark.benchmark

STATUS_TEXT = (
    "[0:{s:02d}] {p:.2f}%  {f} files {m:.3f} MiB, total 9999 files 99.000 GiB, 0 errors ETA 1:00"
)
SUMMARY_TEXT = """
Files:           1 new,     2 changed,  9996 unmodified
Dirs:            0 new,     2 changed,   943 unmodified
Added to the repository: 219.316 KiB (162.417 KiB stored)

processed 9999 files, 99.000 GiB in 1:02:03
snapshot 25acac52 saved
"""


def _text_log(path: Path, lines: int) -> Path:
    with path.open("w") as log:
        log.write("using parent snapshot 31986dfd\n")
        for index in range(lines):
            log.write(
                STATUS_TEXT.format(s=index % 60, p=(index % 100), f=index, m=index / 7) + "\n"
            )
            log.write(f"/srv/data/file-{index}.bin\n")
        log.write(SUMMARY_TEXT)
    return path


def _json_log(path: Path, lines: int) -> Path:
    with path.open("w") as log:
        for index in range(lines):
            status = {
                "message_type": "status",
                "seconds_elapsed": index // 60,
                "percent_done": (index % 100) / 100,
                "total_files": 9999,
                "files_done": index,
                "total_bytes": 10**11,
                "bytes_done": index * 1000,
                "current_files": [f"/srv/data/file-{index}.bin", f"/srv/data/file-{index + 1}.bin"],
            }
            log.write(json.dumps(status) + "\n")
        summary = {
            "message_type": "summary",
            **dict.fromkeys(["files_new", "files_changed", "dirs_new", "dirs_changed"], 1),
            **dict.fromkeys(["files_unmodified", "dirs_unmodified", "data_blobs", "tree_blobs"], 2),
            "data_added": 5,
            "total_files_processed": 4,
            "total_bytes_processed": 10**11,
            "total_duration": 3723.5,
            "snapshot_id": "25acac52",
        }
        log.write(json.dumps(summary) + "\n")
    return path


def _seconds(path: Path) -> float:
    started = time.perf_counter()
    reading = read_log(str(path))
    elapsed = time.perf_counter() - started
    assert reading.problem is None and reading.parsed is not None
    backup = reading.parsed.sections[0].backup
    assert backup is not None and backup.complete
    return elapsed


def _peak_bytes(path: Path) -> int:
    """Peak memory Python allocated while reading `path` (traced apart from the timing: tracing
    slows every allocation down)."""
    tracemalloc.start()
    read_log(str(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


@pytest.mark.parametrize("kind", ["text", "json"])
def test_parse_throughput_and_constant_memory(tmp_path: Path, kind: str) -> None:
    make = _text_log if kind == "text" else _json_log
    small = make(tmp_path / "small.log", 10_000)
    big = make(tmp_path / "big.log", 400_000)
    _seconds(small)  # warm up: the pint registry and the regexes are built once
    big_time = _seconds(big)
    small_peak, big_peak = _peak_bytes(small), _peak_bytes(big)
    megabytes = big.stat().st_size / 1e6
    with big.open() as log:
        lines = sum(1 for _ in log)
    print(
        f"\n{kind}: {megabytes:.0f} MB, {lines} lines in {big_time:.2f} s "
        f"({lines / big_time:,.0f} lines/s, {megabytes / big_time:.1f} MB/s); "
        f"peak traced memory {big_peak / 1024:.0f} KiB (10k-status log: {small_peak / 1024:.0f} KiB)"
    )
    # Streaming: 40 times the log, not 40 times the memory (a held log would be >40 MB).
    assert big_peak < 2 * small_peak + 1024 * 1024


def test_cli_import_time() -> None:
    probe = (
        "import time; t = time.perf_counter(); import exporter.cli; print(time.perf_counter() - t)"
    )
    runs = sorted(
        float(
            subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    )
    print(f"\nimporting exporter.cli: median {runs[2] * 1000:.0f} ms over 5 fresh interpreters")
