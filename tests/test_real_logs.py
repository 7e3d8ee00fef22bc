"""What the parser makes of real restic logs (tests/fixtures/real/<version>/, captured by
tests/restic_versions.py; tests/fixtures/real-restic-observed.md says what each shows), and the
report's decision about them: the behaviour each line of restic's own output calls for."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES

from exporter.report import make_report
from parsers.log import Section, parse_log
from parsers.records import BackupRun, RepositoryLock

REAL = FIXTURES / "real"


def _section(path: Path) -> Section:
    """As the exporter reads a log: lines end at "\\n" only (0.19's "\\rsignal ..." is one)."""
    lines = path.read_bytes().split(b"\n")
    return parse_log(line.rstrip(b"\r").decode("utf-8", "replace") for line in lines).sections[0]


def _backup(version: str, name: str) -> BackupRun:
    run = _section(REAL / version / name).backup
    assert run is not None
    return run


@pytest.mark.parametrize("version", ["0.11.0", "0.14.0", "0.18.0"])
def test_a_missing_source_beside_an_existing_one_is_a_success_before_0_19(version: str) -> None:
    run = _backup(version, "missing_source.log")
    assert run.saved_snapshot and run.errors == 1 and run.missing_sources == 1
    assert run.exit_code is None  # 0 before 0.19, 3 on 0.19: a log cut early cannot tell
    report = make_report(
        run,
        exit_code=None,
        log_written_timestamp_seconds=1.0,
        previous_last_success_timestamp_seconds=None,
    )
    assert report.success and report.exit_code is None


def test_a_missing_source_on_0_19_warns_and_exits_3() -> None:
    run = _backup("0.19.1", "missing_source.log")
    assert run.missing_sources == 1 and run.source_read_warning and run.exit_code == 3
    report = make_report(
        run,
        exit_code=None,
        log_written_timestamp_seconds=1.0,
        previous_last_success_timestamp_seconds=None,
    )
    assert not report.success


@pytest.mark.parametrize("version", ["0.11.0", "0.14.0", "0.18.0", "0.19.1"])
@pytest.mark.parametrize(("given", "success"), [(0, True), (3, False), (1, False), (77, False)])
def test_a_given_exit_code_always_wins(version: str, given: int, success: bool) -> None:
    run = _backup(version, "missing_source.log")
    report = make_report(
        run,
        exit_code=given,
        log_written_timestamp_seconds=1.0,
        previous_last_success_timestamp_seconds=None,
    )
    assert report.success is success and report.exit_code == given


def test_0_18_skip_if_unchanged_drops_its_impossible_times() -> None:
    for name in ("skip_unchanged.log", "skip_unchanged_json.log"):
        run = _backup("0.18.0", name)
        assert run.snapshot_skipped and run.complete and run.exit_code == 0
        assert run.duration_seconds is None and run.dropped_values
        assert run.failure_reason is None
    json_run = _backup("0.18.0", "skip_unchanged_json.log")
    assert json_run.ended_timestamp_seconds is None  # "0001-01-01T00:00:00Z"
    assert any(value.startswith("backup_end") for value in json_run.dropped_values)


@pytest.mark.parametrize("version", ["0.11.0", "0.14.0", "0.18.0", "0.19.1"])
def test_an_unreadable_directory_reported_twice_in_json_is_one_item(version: str) -> None:
    run = _backup(version, "unreadable_json.log")
    assert run.errors == 2  # the directory (scan and archival) and the file


def test_0_11_json_without_a_summary_ends_with_the_exit_3_warning() -> None:
    lines = (REAL / "0.11.0" / "unreadable_json.log").read_text().splitlines()
    without_summary = [line for line in lines if '"message_type":"summary"' not in line]
    run = parse_log(without_summary).sections[0].backup
    assert run is not None
    assert run.complete and run.saved_snapshot and run.exit_code == 3 and run.errors == 2
    assert run.failure_reason == "2 item(s) could not be read"


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.11.0", None), ("0.14.0", None), ("0.18.0", None), ("0.19.1", None)],
)
def test_wrong_password_and_lock_exit_codes_differ_by_version(
    version: str, expected: int | None
) -> None:
    assert _backup(version, "wrong_password.log").exit_code == expected
    assert _backup(version, "locked.log").exit_code == expected


@pytest.mark.parametrize(
    ("version", "code"), [("0.11.0", 130), ("0.14.0", 130), ("0.18.0", 1), ("0.19.1", 130)]
)
def test_an_interrupted_backup_exits_as_its_version_does(version: str, code: int) -> None:
    run = _backup(version, "interrupted_verbose.log")
    assert run.interrupted and run.exit_code == code


@pytest.mark.parametrize("version", ["0.11.0", "0.14.0", "0.18.0", "0.19.1"])
def test_the_lock_holder_is_read(version: str) -> None:
    lock = _backup(version, "locked.log").lock
    assert isinstance(lock, RepositoryLock)
    assert lock.host == "vm" and lock.user == "root" and lock.exclusive and lock.pid > 0
    assert lock.age_seconds is not None and 0 < lock.age_seconds < 60


def test_old_prune_leaves_the_blobs_still_in_use() -> None:
    prune = _section(REAL / "0.11.0" / "prune.log").prune
    assert prune is not None and prune.remaining_blobs == 33 and prune.remove_blobs == 3


@pytest.mark.parametrize("version", ["0.18.0", "0.19.1"])
def test_check_json_problems_are_restics_num_errors(version: str) -> None:
    check = _section(REAL / version / "check_damaged_json.log").check
    assert check is not None and check.problems == 1 and check.errors_found


def test_stats_in_two_modes_reports_each_mode_s_latest_run() -> None:
    from exporter.exposition import exposition_text, metrics_registry
    from exporter.families import log_families
    from exporter.report import log_report

    text = b"".join(
        (REAL / "0.14.0" / name).read_bytes() for name in ("stats.log", "stats_raw.log")
    )
    parsed = parse_log(line.decode() for line in text.rstrip(b"\n").split(b"\n"))
    reports = log_report(
        parsed,
        exit_code=None,
        log_written_timestamp_seconds=1.0,
        last_success=lambda labels: None,
        user_labels={},
    )
    prom = exposition_text(metrics_registry(log_families(reports, {}))).decode()
    assert 'restic_stats_total_size_bytes{mode="restore-size"}' in prom
    assert 'restic_stats_total_size_bytes{mode="raw-data"}' in prom
    assert prom.count("\nrestic_stats_success ") == 1
