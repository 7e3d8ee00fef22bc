"""Logs written by the real restic (Debian's 0.14), parsed and exported.

The expected values follow from the files each scenario backs up (see restic_runs.py), not from
a previous run of this parser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from restic_runs import ResticLogs
from typer.testing import CliRunner

from exporter.cli import app
from parsers import BackupRun, parse_backup_log
from parsers.log import Section, parse_log
from parsers.records import StateCounts

EXPECTED: dict[str, dict[str, Any]] = {
    "first": {
        "files": StateCounts(3, 0, 0),
        "dirs": StateCounts(3, 0, 0),
        "processed_files": 3,
        "processed_bytes": 7168,
        "exit_code": 0,
        "failure_reason": None,
        "data_blobs": None,
    },
    "verbose": {
        "files": StateCounts(1, 1, 2),
        "dirs": StateCounts(0, 3, 0),
        "processed_bytes": 9216,
        "exit_code": 0,
        "failure_reason": None,
        "tree_blobs": 4,  # the three changed directories and the snapshot's root
    },
    "very_verbose": {
        "files": StateCounts(1, 0, 4),
        "dirs": StateCounts(0, 2, 1),
        "processed_bytes": 9728,
        "exit_code": 0,
        "failure_reason": None,
        "tree_blobs": 3,
    },
    "json": {
        "files": StateCounts(1, 0, 5),
        "processed_files": 6,
        "processed_bytes": 12800,
        "exit_code": 0,
        "failure_reason": None,
        "stored_bytes": None,  # data_added_packed arrived in 0.17
    },
    "json_verbose": {
        "files": StateCounts(0, 0, 6),
        "processed_bytes": 12800,
        "added_bytes": 0,
        "failure_reason": None,
    },
    "dry_run": {
        "files": StateCounts(0, 0, 6),
        "dry_run": True,
        "snapshot_id": None,
        "exit_code": 0,
        "failure_reason": "dry run: no snapshot was saved",
    },
    "wrong_password": {
        "fatal_message": "wrong password or no key found",
        "exit_code": None,  # 1 on 0.14, 12 on 0.17.1+: the text does not tell
        "files": None,
        "processed_bytes": None,
    },
    "missing_repository": {"exit_code": 1, "files": None, "snapshot_id": None},
    "appended_failure_last": {"fatal_message": "wrong password or no key found", "files": None},
    "locked": {"exit_code": None, "files": None},  # 1 before 0.17, 11 after: not told
    "interrupted": {"interrupted": True, "exit_code": 130, "snapshot_id": None},
    "unreadable": {
        "files": StateCounts(1, 0, 0),
        "processed_bytes": 1024,
        "errors": 2,
        "source_read_warning": True,
        "exit_code": 3,
        "failure_reason": "2 item(s) could not be read",
    },
    "progress": {"processed_bytes": 24 * 1024 * 1024, "failure_reason": None},
}


def _latest_run(path: Path) -> BackupRun:
    with path.open(encoding="utf-8", errors="replace") as log:
        run = parse_backup_log(line.rstrip("\n") for line in log).latest_run
    assert run is not None, f"no run found in {path}"
    return run


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_real_restic_log_parses_to_what_was_backed_up(
    restic_logs: ResticLogs, scenario: str
) -> None:
    run = _latest_run(restic_logs[scenario].path)
    assert run.complete
    actual = {field: getattr(run, field) for field in EXPECTED[scenario]}
    assert actual == EXPECTED[scenario]


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_exit_code_read_from_the_log_is_restics_own(restic_logs: ResticLogs, scenario: str) -> None:
    """Restic's own, or none where the text does not tell which version wrote it."""
    inferred = _latest_run(restic_logs[scenario].path).exit_code
    assert inferred in (restic_logs[scenario].returncode, None)
    assert inferred is not None or scenario in ("wrong_password", "locked", "appended_failure_last")


def test_messages_carry_their_snapshot_id(restic_logs: ResticLogs) -> None:
    log = restic_logs["first"].path.read_text()
    run = _latest_run(restic_logs["first"].path)
    assert run.snapshot_id is not None
    assert f"snapshot {run.snapshot_id} saved" in log


def test_status_lines_are_read_as_progress(restic_logs: ResticLogs) -> None:
    """RESTIC_PROGRESS_FPS=60 while 24 MiB are backed up: restic prints status lines, the
    last of which the run keeps."""
    log = restic_logs["progress"].path.read_text()
    status_lines = [line for line in log.splitlines() if line.startswith("[")]
    assert status_lines, "restic printed no status line: make the test file larger"
    run = _latest_run(restic_logs["progress"].path)
    assert run.progress is not None
    assert run.progress.total_bytes == 24 * 1024 * 1024
    assert status_lines[-1].startswith(f"[0:{int(run.progress.elapsed_seconds):02d}]")


def test_quiet_log_is_reported_as_not_understood(restic_logs: ResticLogs, tmp_path: Path) -> None:
    assert restic_logs["quiet"].path.read_bytes() == b""
    result = CliRunner().invoke(
        app, ["parse", str(restic_logs["quiet"].path), "-o", str(tmp_path / "q.prom")]
    )
    assert result.exit_code == 4
    assert "--quiet" in result.stderr


def _samples(prom: Path) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(prom.read_text()):
        for sample in family.samples:
            extra = {k: v for k, v in sample.labels.items() if k != "job"}
            key = sample.name + "".join(f"[{v}]" for v in extra.values())
            values[key] = sample.value
    return values


@pytest.mark.parametrize(
    ("scenario", "success", "exit_code"),
    [
        ("first", 1, 0),
        ("json", 1, 0),
        ("unreadable", 0, 3),
        ("wrong_password", 0, None),
        ("interrupted", 0, 130),
        ("dry_run", 0, 0),
    ],
)
def test_cli_writes_what_restic_did(
    restic_logs: ResticLogs, tmp_path: Path, scenario: str, success: int, exit_code: int | None
) -> None:
    prom = tmp_path / "restic.prom"
    result = CliRunner().invoke(
        app, ["parse", str(restic_logs[scenario].path), "-o", str(prom), "-l", "job=home"]
    )
    assert result.exit_code == 0, result.output
    values = _samples(prom)
    assert values["restic_backup_success"] == success
    assert values.get("restic_backup_exit_code") == exit_code
    assert values["restic_exporter_parse_success"] == 1
    assert "restic_backup_last_run_timestamp_seconds" in values
    if success:
        assert values["restic_backup_files[new]"] >= 1
        assert "restic_backup_last_success_timestamp_seconds" in values
    if scenario == "wrong_password":  # nothing was backed up: no summary values, not zeros
        assert "restic_backup_files[new]" not in values
        assert "restic_backup_duration_seconds" not in values
    # Whether it was a dry run is known only from a run that got as far as its summary.
    expected_dry_run = {"dry_run": 1, "wrong_password": None, "interrupted": None}.get(scenario, 0)
    assert values.get("restic_backup_dry_run") == expected_dry_run


def _sections(path: Path) -> Section:
    with path.open(encoding="utf-8", errors="replace") as log:
        parsed = parse_log(line.rstrip("\n") for line in log)
    assert not parsed.autorestic and len(parsed.sections) == 1
    return parsed.sections[0]


def test_backup_script_log_reports_every_command(restic_logs: ResticLogs) -> None:
    """backup; forget --keep-last 3 --prune; check, appended to one log.  By then the "src"
    group has 8 snapshots (every successful backup of src so far) and "big" has 1."""
    section = _sections(restic_logs["script"].path)
    assert section.backup is not None and section.backup.failure_reason is None
    assert section.forget is not None
    assert (section.forget.kept_snapshots, section.forget.removed_snapshots) == (4, 5)
    assert section.prune is not None and section.prune.complete
    assert section.prune.remaining_blobs is not None and section.prune.remaining_blobs > 0
    assert section.check is not None and section.check.failure_reason is None
    assert section.check.problems == 0
    assert section.last_command == "check"


def test_forget_json(restic_logs: ResticLogs) -> None:
    """forget --json --keep-last 2: "src" 3 -> 2 kept, 1 removed; "big" 1 kept."""
    forget = _sections(restic_logs["forget_json"].path).forget
    assert forget is not None and forget.complete
    assert (forget.kept_snapshots, forget.removed_snapshots) == (3, 1)


def test_prune_alone(restic_logs: ResticLogs) -> None:
    prune = _sections(restic_logs["prune"].path).prune
    assert prune is not None and prune.complete and prune.failure_reason is None
    assert prune.remaining_blobs is not None and prune.remaining_blobs > 0
    assert prune.remaining_bytes is not None and prune.remaining_bytes > 24 * 1024 * 1024


def test_check_of_a_damaged_repository_fails(restic_logs: ResticLogs) -> None:
    assert restic_logs["check_damaged"].returncode == 1
    check = _sections(restic_logs["check_damaged"].path).check
    assert check is not None and check.complete
    assert check.problems == 1 and check.errors_found
    assert check.fatal_message == "repository contains errors"


def test_stats_text_and_json(restic_logs: ResticLogs) -> None:
    """After the script's forget: 3 snapshots of src and 1 of big."""
    text = _sections(restic_logs["stats"].path).stats
    assert text is not None and text.complete and text.mode == "restore-size"
    assert text.snapshots == 4
    assert text.total_size_bytes is not None and text.total_size_bytes > 24 * 1024 * 1024
    raw = _sections(restic_logs["stats_raw_json"].path).stats
    assert raw is not None and raw.snapshots == 4 and raw.blobs is not None and raw.blobs > 0


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (
            "script",
            {
                "restic_backup_success": 1,
                "restic_forget_success": 1,
                "restic_prune_success": 1,
                "restic_check_success": 1,
                "restic_check_errors_found": 0,
                "restic_forget_snapshots[remove]": 5,
            },
        ),
        ("check_damaged", {"restic_check_success": 0, "restic_check_errors_found": 1}),
        ("stats", {"restic_stats_success": 1, "restic_stats_snapshots[restore-size]": 4}),
    ],
)
def test_cli_writes_every_commands_metrics(
    restic_logs: ResticLogs, tmp_path: Path, scenario: str, expected: dict[str, float]
) -> None:
    prom = tmp_path / "restic.prom"
    result = CliRunner().invoke(
        app, ["parse", str(restic_logs[scenario].path), "-o", str(prom), "-l", "job=nas"]
    )
    assert result.exit_code == 0, result.output
    values = _samples(prom)
    assert {name: values.get(name) for name in expected} == expected
    if scenario != "script":  # a check or stats log says nothing about backups
        assert "restic_backup_success" not in values
