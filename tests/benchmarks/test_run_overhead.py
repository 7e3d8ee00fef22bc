"""What the ``run`` wrapper costs a real restic backup (run: pytest -m benchmark -s).

Target: with progress on, at most 2 % more wall time than the same backup run without the
wrapper, side by side in one run (A B A B ..., medians of the pairs' ratios); and the bytes the
wrapper writes besides the log stay bounded however long the run: one metrics file, replaced at
most every --progress-interval seconds.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

PASSWORD = "benchmark"
SOURCE_BYTES = 2560 * 1024 * 1024  # restic backup --force takes about 10 s here
PAIRS = 4


def _env(base: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "RESTIC_PASSWORD": PASSWORD,
        "RESTIC_REPOSITORY": str(base / "repo"),
        "RESTIC_CACHE_DIR": str(base / "cache"),
    }
    env.pop("RESTIC_PROGRESS_FPS", None)
    return env


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, timeout=600)
    return time.perf_counter() - started


def test_the_wrapper_adds_little_to_a_real_backup(tmp_path: Path) -> None:
    env = _env(tmp_path)
    subprocess.run(["restic", "init", "-q"], env=env, check=True, timeout=60)
    source = tmp_path / "src"
    source.mkdir()
    with (source / "data").open("wb") as out:  # compressible enough to be CPU-bound, not I/O
        block = os.urandom(1024 * 1024)
        for _ in range(SOURCE_BYTES // len(block)):
            out.write(block[: len(block) // 2] + os.urandom(len(block) // 2))
    backup = ["restic", "backup", "--force", str(source)]
    prom = tmp_path / "home.prom"
    wrapped = [
        sys.executable, "-m", "exporter", "run", "-o", str(prom), "--progress",
        "--progress-interval", "1", "--log", str(tmp_path / "home.log"), "--", *backup,
    ]  # fmt: skip
    _timed(backup, env)  # warm-up: the first backup stores the data
    plain, through, ratios = [], [], []
    for _ in range(PAIRS):
        a = _timed(backup, env)
        b = _timed(wrapped, env)
        plain.append(a)
        through.append(b)
        ratios.append(b / a)
    median_ratio = statistics.median(ratios)
    besides_log = sum(p.stat().st_size for p in tmp_path.glob(".home.prom*")) + prom.stat().st_size
    print(
        f"\nrestic backup --force of {SOURCE_BYTES >> 20} MiB, {PAIRS} pairs:\n"
        f"  without the wrapper  median {statistics.median(plain):6.2f} s\n"
        f"  with run --progress  median {statistics.median(through):6.2f} s\n"
        f"  ratio (pairwise)     median {median_ratio:.3f}  min {min(ratios):.3f}"
        f"  max {max(ratios):.3f}\n"
        f"  bytes besides the log: {besides_log} (metrics file, run memory, lock)"
    )
    assert besides_log < 64 * 1024
