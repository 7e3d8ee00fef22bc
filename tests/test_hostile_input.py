"""Inputs meant to break us: each gets a one-line error and its documented exit code, never a
crash or a hang, and the metrics file stays one node_exporter can read."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES
from helpers import value
from test_cli import invoke

GOOD_LOG = FIXTURES / "restic-0.14" / "backup1.log"
BIN = Path(sys.executable).parent / "restic-textfile-exporter"
HUGE = "1" * 5000  # more digits than Python's int() converts


@pytest.mark.parametrize(
    "line",
    [
        f"Files:     {HUGE} new,     0 changed,     0 unmodified",
        "Added to the repository: " + "9" * 400 + " B (0 B stored)",
        f"Data Blobs:  {HUGE} new",
    ],
)
def test_a_number_beyond_reason_is_a_line_error(line: str, tmp_path: Path) -> None:
    log = tmp_path / "huge.log"
    lines = GOOD_LOG.read_text().splitlines()
    assert lines[3].startswith("Dirs:")
    lines[3] = line
    log.write_text("\n".join(lines) + "\n")
    prom = tmp_path / "out.prom"
    result = invoke(str(log), "-o", str(prom))
    assert result.exit_code == 4
    assert "line 4" in result.stderr
    assert value(prom.read_text(), "restic_exporter_parse_success") == 0


def test_a_json_number_beyond_reason_is_not_a_restic_message(tmp_path: Path) -> None:
    log = tmp_path / "huge.json"
    log.write_text('{"message_type":"summary","files_new":' + HUGE + "}\n")
    result = invoke(str(log), "-o", str(tmp_path / "out.prom"))
    assert result.exit_code == 4 and "no restic output found" in result.stderr


def test_a_malformed_line_in_an_older_run_only_warns(tmp_path: Path) -> None:
    log = tmp_path / "two-runs.log"
    bad = GOOD_LOG.read_text().replace("Files:        4838", f"Files:        {HUGE}")
    assert bad != GOOD_LOG.read_text()
    log.write_text(bad + GOOD_LOG.read_text())
    result = invoke(str(log), "-o", str(tmp_path / "out.prom"))
    assert result.exit_code == 0
    assert "(in an earlier run: ignored)" in result.stderr
    assert value((tmp_path / "out.prom").read_text(), "restic_backup_success") == 1


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--label", "job\n=x"], "is not a Prometheus label name"),
        (["--label", "job=\udcff"], "is not valid UTF-8"),
        (["--exit-code", "\u00b2"], "neither an exit code"),
        (["--exit-code", "0003"], "neither an exit code"),
    ],
)
def test_hostile_options_are_usage_errors(args: list[str], complaint: str, tmp_path: Path) -> None:
    result = invoke(str(GOOD_LOG), "-o", str(tmp_path / "out.prom"), *args)
    assert result.exit_code == 2 and complaint in result.stderr
    assert not (tmp_path / "out.prom").exists()


def test_a_fifo_at_the_output_is_neither_read_nor_replaced(tmp_path: Path) -> None:
    """Reading it would block for ever; replacing it would destroy what someone put there (as
    -o /dev/null as root would): one line, exit 5, the FIFO as it was."""
    prom = tmp_path / "out"
    os.mkfifo(prom)
    result = subprocess.run(
        [BIN, "parse", GOOD_LOG, "-o", prom], capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 5, result.stderr
    assert b"it is a FIFO, not replaced with metrics" in result.stderr
    assert stat.S_ISFIFO(prom.lstat().st_mode)


def test_a_last_success_in_the_future_is_not_carried(tmp_path: Path) -> None:
    prom = tmp_path / "out.prom"
    prom.write_text(
        "# HELP restic_backup_last_success_timestamp_seconds x\n"
        "# TYPE restic_backup_last_success_timestamp_seconds gauge\n"
        "restic_backup_last_success_timestamp_seconds 9e18\n"
    )
    result = invoke(str(FIXTURES / "restic-0.14" / "fatal_pw.log"), "-o", str(prom))
    assert result.exit_code == 0
    assert value(prom.read_text(), "restic_backup_last_success_timestamp_seconds") is None


def test_a_very_long_output_name_still_gets_a_temp_file(tmp_path: Path) -> None:
    prom = tmp_path / ("x" * 240 + ".prom")
    result = invoke(str(GOOD_LOG), "-o", str(prom))
    assert result.exit_code == 0, result.stderr
    assert prom.is_file()


@pytest.mark.parametrize("redirect", [">/dev/full", ">&-"])
def test_unwritable_stdout_is_exit_5_in_one_line(redirect: str) -> None:
    result = subprocess.run(
        f"'{BIN}' parse '{GOOD_LOG}' {redirect}",
        shell=True,
        capture_output=redirect == ">&-" and False,
        stderr=subprocess.PIPE,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 5, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "standard output" in lines[0]


def test_an_infinite_json_number_is_not_a_crash(tmp_path: Path) -> None:
    log = tmp_path / "stats.json"
    log.write_text('{"total_size":1e400,"snapshots_count":2}\n')
    result = invoke(str(log), "-o", str(tmp_path / "out.prom"))
    assert result.exit_code == 0
    assert (
        value((tmp_path / "out.prom").read_text(), "restic_stats_total_size_bytes", mode="unknown")
        is None
    )
