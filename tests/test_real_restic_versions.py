"""Every restic Debian ships (0.11, 0.14, 0.18, 0.19), run for real, its log parsed by the CLI.

What is expected comes from restic itself (see restic_versions.py): its exit code, the snapshot
it saved and that snapshot's summary, check's num_errors, stats' JSON.  Where our parser gets a
real version's output wrong, the case is marked xfail (strict) with the defect in DEFECTS below;
tests/fixtures/real-restic-observed.md has the lines that trigger them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from restic_versions import (
    SCENARIOS,
    SERIES,
    RealRun,
    ResticMissingError,
    VersionLogs,
    make_all_version_logs,
    scenarios,
)
from typer.testing import CliRunner

from exporter.cli import app

AllLogs = dict[str, VersionLogs | ResticMissingError]

# (test, series, scenario) -> the defect that makes our parser wrong about that real log.
DEFECTS: dict[tuple[str, str, str], str] = {}


@pytest.fixture(scope="session")
def version_logs(tmp_path_factory: pytest.TempPathFactory) -> AllLogs:
    """Every series' logs, made once per session and concurrently (about 50 s on 2 cores)."""
    return make_all_version_logs(tmp_path_factory.mktemp("versions"))


def _run(logs: AllLogs, series: str, scenario: str) -> RealRun:
    found = logs[series]
    if isinstance(found, ResticMissingError):
        pytest.fail(str(found))
    return found.runs[scenario]


def _cases(test: str, keep: set[str] | None = None) -> list[object]:
    cases: list[object] = []
    for series in SERIES:
        for scenario in scenarios(series):
            if keep is not None and scenario not in keep:
                continue
            defect = DEFECTS.get((test, series, scenario))
            marks = [pytest.mark.xfail(strict=True, reason=defect)] if defect else []
            cases.append(pytest.param(series, scenario, marks=marks, id=f"{series}-{scenario}"))
    return cases


def _parse(run: RealRun, tmp_path: Path, *options: str) -> dict[str, float]:
    prom = tmp_path / "restic.prom"
    result = CliRunner().invoke(
        app,
        ["parse", str(run.log), "-o", str(prom), "-l", "backup=real", *options],
        env={"EXIT_STATUS": None},
    )
    assert result.exit_code == 0, result.output
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(prom.read_text()):
        for sample in family.samples:
            extra = [value for name, value in sample.labels.items() if name != "backup"]
            values[sample.name + "".join(f"[{value}]" for value in extra)] = sample.value
    return values


def _success(run: RealRun) -> int:
    """What restic says: it exited 0 (and, for a backup, saved or skipped a snapshot: a dry run
    saves none, which this exporter reports as no success)."""
    return int(run.returncode == 0 and not run.dry_run)


BACKUPS = {
    name
    for name in SCENARIOS
    if name.split("_")[0] not in {"forget", "prune", "check", "stats", "script"}
}


@pytest.mark.parametrize(("series", "scenario"), _cases("inferred"))
def test_success_inferred_from_the_log_is_restics(
    version_logs: AllLogs, tmp_path: Path, series: str, scenario: str
) -> None:
    """Without --exit-code, success is inferred from the log: it must match restic's exit."""
    run = _run(version_logs, series, scenario)
    values = _parse(run, tmp_path)
    if run.command == "backup":
        assert values.get("restic_exporter_parse_success") == 1
    assert values.get(f"restic_{run.command}_success") == _success(run), (
        f"restic exited {run.returncode}"
    )


@pytest.mark.parametrize(("series", "scenario"), _cases("exit_code_option"))
def test_exit_code_given_wins(
    version_logs: AllLogs, tmp_path: Path, series: str, scenario: str
) -> None:
    run = _run(version_logs, series, scenario)
    values = _parse(run, tmp_path, "--exit-code", str(run.returncode))
    assert values.get(f"restic_{run.command}_success") == _success(run)
    if run.command == "backup":
        assert values.get("restic_backup_exit_code") == run.returncode


@pytest.mark.parametrize(("series", "scenario"), _cases("inferred_exit_code", BACKUPS))
def test_exit_code_inferred_is_restics_or_absent(
    version_logs: AllLogs, tmp_path: Path, series: str, scenario: str
) -> None:
    """An exit code read from the log must be the one restic exited with: none beats a wrong one."""
    run = _run(version_logs, series, scenario)
    inferred = _parse(run, tmp_path).get("restic_backup_exit_code")
    assert inferred in (None, run.returncode)


def _close(actual: float | None, exact: int) -> bool:
    """restic's text prints sizes with 3 decimals of their unit (KiB, MiB, ...)."""
    return actual is not None and abs(actual - exact) <= max(1.0, exact * 0.0005)


@pytest.mark.parametrize(("series", "scenario"), _cases("backup_values", BACKUPS))
def test_backup_values_are_what_restic_saved(
    version_logs: AllLogs, tmp_path: Path, series: str, scenario: str
) -> None:
    run = _run(version_logs, series, scenario)
    values = _parse(run, tmp_path, "--exit-code", str(run.returncode))
    log = run.log.read_text(errors="replace")
    if not run.snapshot_saved and not run.dry_run and run.files is None:
        assert "restic_backup_files[new]" not in values  # nothing was backed up: no zeros
        return
    if run.files is not None:
        files = run.files
        assert values.get("restic_backup_files[new]") == files.new
        assert values.get("restic_backup_files[changed]") == files.changed
        assert values.get("restic_backup_files[unmodified]") == files.unmodified
        assert _close(values.get("restic_backup_processed_bytes"), files.processed_bytes)
    if run.summary is not None:
        summary = run.summary
        assert values.get("restic_backup_files[new]") == summary.files_new
        assert values.get("restic_backup_files[changed]") == summary.files_changed
        assert values.get("restic_backup_files[unmodified]") == summary.files_unmodified
        assert values.get("restic_backup_dirs[new]") == summary.dirs_new
        assert values.get("restic_backup_dirs[changed]") == summary.dirs_changed
        assert values.get("restic_backup_dirs[unmodified]") == summary.dirs_unmodified
        assert values.get("restic_backup_processed_files") == summary.total_files_processed
        assert _close(values.get("restic_backup_processed_bytes"), summary.total_bytes_processed)
        assert _close(values.get("restic_backup_added_bytes"), summary.data_added)
        assert _close(values.get("restic_backup_stored_bytes"), summary.data_added_packed)
        if "--json" in log or "Data Blobs:" in log:
            assert values.get("restic_backup_blobs[data]") == summary.data_blobs
            assert values.get("restic_backup_blobs[tree]") == summary.tree_blobs
    if run.unreadable_items is not None:
        assert values.get("restic_backup_errors") == run.unreadable_items
    duration = values.get("restic_backup_duration_seconds")
    assert duration is None or 0 <= duration <= run.wall_seconds + 1


FORGETS = {"forget_prune", "forget_prune_json"}


@pytest.mark.parametrize(("series", "scenario"), _cases("forget", FORGETS))
def test_forget_counts_are_restics(
    version_logs: AllLogs, tmp_path: Path, series: str, scenario: str
) -> None:
    run = _run(version_logs, series, scenario)
    values = _parse(run, tmp_path, "--exit-code", str(run.returncode))
    assert values.get("restic_forget_success") == 1
    assert values.get("restic_forget_snapshots[keep]") == run.kept_snapshots
    assert values.get("restic_forget_snapshots[remove]") == run.removed_snapshots


@pytest.mark.parametrize(("series", "scenario"), _cases("prune", {"prune"}))
def test_prune_leaves_the_blobs_restic_lists(
    version_logs: AllLogs, tmp_path: Path, series: str, scenario: str
) -> None:
    run = _run(version_logs, series, scenario)
    values = _parse(run, tmp_path)
    assert values.get("restic_prune_success") == 1
    assert values.get("restic_prune_blobs[remaining]") == run.remaining_blobs


CHECKS = {"check", "check_json", "check_damaged", "check_damaged_json"}


@pytest.mark.parametrize(("series", "scenario"), _cases("check", CHECKS))
def test_check_errors_are_restics(
    version_logs: AllLogs, tmp_path: Path, series: str, scenario: str
) -> None:
    run = _run(version_logs, series, scenario)
    values = _parse(run, tmp_path)
    errors = run.check_errors if run.check_errors is not None else int(run.returncode != 0)
    assert values.get("restic_check_errors_found") == int(errors > 0)
    if run.check_errors is not None:  # check --json's num_errors (0.18+), for text and JSON
        assert values.get("restic_check_problems") == run.check_errors


STATS = {"stats", "stats_raw", "stats_raw_json"}


@pytest.mark.parametrize(("series", "scenario"), _cases("stats", STATS))
def test_stats_are_restics_json(
    version_logs: AllLogs, tmp_path: Path, series: str, scenario: str
) -> None:
    run = _run(version_logs, series, scenario)
    assert run.stats is not None
    values = _parse(run, tmp_path)
    # `stats --json` does not name its mode, so a JSON log's mode is unknown, not a guess
    mode = "unknown" if "--json" in scenario or scenario.endswith("_json") else run.stats.mode
    assert values.get("restic_stats_success") == 1
    assert _close(values.get(f"restic_stats_total_size_bytes[{mode}]"), run.stats.total_size)
    if run.stats.snapshots_count is not None:
        assert values.get(f"restic_stats_snapshots[{mode}]") == run.stats.snapshots_count
    if run.stats.total_blob_count:
        assert values.get(f"restic_stats_blobs[{mode}]") == run.stats.total_blob_count
    if run.stats.total_file_count:
        assert values.get(f"restic_stats_files[{mode}]") == run.stats.total_file_count


@pytest.mark.parametrize(("series", "scenario"), _cases("script", {"script"}))
def test_script_log_reports_every_command(
    version_logs: AllLogs, tmp_path: Path, series: str, scenario: str
) -> None:
    """backup; forget --keep-last 1 --prune; check, appended to one log."""
    run = _run(version_logs, series, scenario)
    backup, forget = run.earlier
    values = _parse(run, tmp_path, "--exit-code", str(run.returncode))
    assert values.get("restic_backup_success") == _success(backup)
    assert values.get("restic_forget_success") == _success(forget)
    assert values.get("restic_forget_snapshots[keep]") == forget.kept_snapshots
    assert values.get("restic_forget_snapshots[remove]") == forget.removed_snapshots
    assert values.get("restic_prune_success") == _success(forget)
    assert values.get("restic_check_success") == _success(run)


@pytest.mark.parametrize(("series", "scenario"), _cases("progress", {"progress"}))
def test_status_lines_where_restic_prints_them(
    version_logs: AllLogs, tmp_path: Path, series: str, scenario: str
) -> None:
    """RESTIC_PROGRESS_FPS=60 over 24 MiB: 0.12+ prints status lines to a log; 0.11 prints none."""
    run = _run(version_logs, series, scenario)
    status = [line for line in run.log.read_text().splitlines() if line.startswith("[")]
    assert bool(status) == (series != "0.11")
    values = _parse(run, tmp_path)
    assert values.get("restic_backup_success") == 1
    assert _close(values.get("restic_backup_processed_bytes"), 24 * 1024 * 1024)
