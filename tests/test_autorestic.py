"""autorestic logs, built from autorestic's format strings (it is not packaged for Debian): split
by location x backend, a failed backend reported alone, last successes kept per pair."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import FIXTURES
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from exporter.cli import app

CI_LOG = FIXTURES / "autorestic" / "autorestic-1.8.3-ci.log"
COLOUR_FAILED = FIXTURES / "autorestic" / "autorestic-1.8.3-colour-failed-backend.log"
QUIET_FAILED = FIXTURES / "autorestic" / "autorestic-1.6.0-quiet-two-failed.log"


def _export(log: Path, prom: Path, mtime: float | None = None) -> dict[tuple[str, str, str], float]:
    """(metric, location, backend) -> value, of the written file."""
    if mtime is not None:
        copy = prom.parent / log.name
        copy.write_bytes(log.read_bytes())
        os.utime(copy, (mtime, mtime))
        log = copy
    result = CliRunner().invoke(app, ["parse", str(log), "-o", str(prom), "-l", "job=ar"])
    assert result.exit_code == 0, result.output
    values = {}
    for family in text_string_to_metric_families(prom.read_text()):
        for sample in family.samples:
            assert sample.labels["job"] == "ar"
            location, backend = sample.labels.get("location", ""), sample.labels.get("backend", "")
            extra = "".join(v for k, v in sample.labels.items() if k in ("state", "type", "action"))
            values[(sample.name + (f"[{extra}]" if extra else ""), location, backend)] = (
                sample.value
            )
    return values


def test_every_location_and_backend_gets_its_own_metrics(tmp_path: Path) -> None:
    values = _export(CI_LOG, tmp_path / "ar.prom")
    success = {
        (loc, be): v for (name, loc, be), v in values.items() if name == "restic_backup_success"
    }
    assert success == {("home", "local"): 1, ("home", "remote"): 1, ("etc", "local"): 1}
    assert values[("restic_backup_duration_seconds", "home", "remote")] == 31
    assert values[("restic_backup_files[unmodified]", "etc", "local")] == 1500
    assert values[("restic_forget_snapshots[remove]", "home", "local")] == 1
    assert ("restic_forget_success", "home", "remote") not in values


def test_colours_are_ignored_and_a_failed_backend_fails_alone(tmp_path: Path) -> None:
    values = _export(COLOUR_FAILED, tmp_path / "ar.prom")
    assert values[("restic_backup_success", "home", "remote")] == 0
    assert values[("restic_backup_exit_code", "home", "remote")] == 1
    assert values[("restic_backup_success", "home", "local")] == 1
    assert values[("restic_backup_success", "etc", "local")] == 1
    assert values[("restic_exporter_parse_success", "home", "remote")] == 1


def test_without_verbose_output_the_error_blocks_decide(tmp_path: Path) -> None:
    values = _export(QUIET_FAILED, tmp_path / "ar.prom")
    assert values[("restic_backup_success", "home", "local")] == 0
    assert values[("restic_backup_exit_code", "home", "local")] == 3
    assert values[("restic_backup_success", "etc", "remote")] == 0
    assert values[("restic_backup_exit_code", "etc", "remote")] == 1
    assert values[("restic_backup_success", "etc", "local")] == 1
    assert ("restic_backup_files[new]", "etc", "local") not in values


def test_last_success_is_kept_per_location_and_backend(tmp_path: Path) -> None:
    prom = tmp_path / "ar.prom"
    _export(CI_LOG, prom, mtime=1700000000)
    values = _export(COLOUR_FAILED, prom, mtime=1700086400)
    last_success = {
        (loc, be): v
        for (name, loc, be), v in values.items()
        if name == "restic_backup_last_success_timestamp_seconds"
    }
    assert last_success == {
        ("home", "remote"): 1700000000,  # failed today: yesterday's success stays
        ("home", "local"): 1700000000,  # snapshot 5e6f7a8b again: the same run
        ("etc", "local"): 1700086400,
    }


def test_a_pair_missing_from_the_latest_run_is_not_reported_fresh(tmp_path: Path) -> None:
    prom = tmp_path / "ar.prom"
    _export(CI_LOG, prom, mtime=1700000000)
    only_etc = tmp_path / "etc-only.log"
    text = CI_LOG.read_text()
    only_etc.write_text(
        "Using config: \t /x\n" + text[text.index('\n\n\n    Backing up location "etc"') :]
    )
    values = _export(only_etc, prom, mtime=1700086400)
    assert values[("restic_backup_success", "etc", "local")] == 1
    for backend in ("local", "remote"):  # neither fresh nor failed: their last success ages
        assert ("restic_backup_success", "home", backend) not in values
        assert (
            values[("restic_backup_last_success_timestamp_seconds", "home", backend)] == 1700000000
        )
        assert ("restic_backup_last_run_timestamp_seconds", "home", backend) not in values


def test_a_cron_run_that_skips_every_location_keeps_their_last_success(tmp_path: Path) -> None:
    prom = tmp_path / "ar.prom"
    _export(CI_LOG, prom, mtime=1700000000)
    skipped = tmp_path / "cron.log"
    skipped.write_text(
        CI_LOG.read_text()
        + 'Using config: \t /x\nSkipping "home", not due yet.\nSkipping "etc", not due yet.\n'
    )
    values = _export(skipped, prom, mtime=1700003600)
    assert not [key for key in values if key[0] == "restic_backup_success"]
    assert values[("restic_backup_last_success_timestamp_seconds", "etc", "local")] == 1700000000


def test_only_the_latest_autorestic_run_counts(tmp_path: Path) -> None:
    twice = tmp_path / "twice.log"
    twice.write_text(COLOUR_FAILED.read_text() + CI_LOG.read_text())
    values = _export(twice, tmp_path / "ar.prom")
    assert values[("restic_backup_success", "home", "remote")] == 1


@pytest.mark.parametrize("lines", [7, 8, 12, 17, 18])
def test_a_cut_off_autorestic_log_is_not_understood(tmp_path: Path, lines: int) -> None:
    """The exit code says what the file says: a location@backend whose backup the log does not
    finish is not understood (exit 4), never exit 0 beside parse_success 0."""
    log = tmp_path / "cut.log"
    log.write_text("".join(CI_LOG.read_text().splitlines(keepends=True)[:lines]))
    prom = tmp_path / "cut.prom"
    result = CliRunner().invoke(app, ["parse", str(log), "-o", str(prom)])
    assert result.exit_code == 4, result.output
    parsed = [
        sample.value
        for family in text_string_to_metric_families(prom.read_text())
        for sample in family.samples
        if sample.name == "restic_exporter_parse_success"
    ]
    assert 0 in parsed


def test_names_with_at_and_colon_fail_where_autorestic_says(tmp_path: Path) -> None:
    """A location ``db@prod`` and a backend ``s3:eu``: the error block ``db@prod@s3:eu:``
    names them both (split after the location autorestic backed up)."""
    log = tmp_path / "names.log"
    log.write_text(
        "Using config: \t /etc/autorestic/.autorestic.yml\n\n\n"
        '    Backing up location "db@prod"    \n\n'
        "Backend: s3:eu\n"
        "Backend: local\n"
        "db@prod@s3:eu:\n"
        "Fatal: unable to open config file: stat s3:eu/config: no such file\n"
        "exit status 1\n\n"
        "Error: 1 errors were found\n"
    )
    values = _export(log, tmp_path / "ar.prom")
    assert values[("restic_backup_success", "db@prod", "s3:eu")] == 0
    assert values[("restic_backup_exit_code", "db@prod", "s3:eu")] == 1
    assert values[("restic_backup_success", "db@prod", "local")] == 1


def test_an_exit_status_of_thousands_of_digits_is_a_malformed_line(tmp_path: Path) -> None:
    log = tmp_path / "huge.log"
    prom = tmp_path / "ar.prom"
    log.write_text(QUIET_FAILED.read_text().replace("exit status 3", "exit status " + "9" * 4301))
    result = CliRunner().invoke(app, ["parse", str(log), "-o", str(prom), "-l", "job=ar"])
    assert result.exit_code == 4, result.output
    assert "not an exit status" in result.output
    assert "restic_exporter_parse_success" in prom.read_text()


def test_a_control_character_in_a_name_does_not_break_the_file(tmp_path: Path) -> None:
    """Found by tests/test_properties.py: a carriage return in a backend name went into a label
    value as it was, and the exposition could not be read back."""
    log = tmp_path / "cr.log"
    log.write_text(
        'Backing up location "home"\nBackend: \r0\n'
        "Files:        0 new,     0 changed,     0 unmodified\n"
    )
    prom = tmp_path / "ar.prom"
    CliRunner().invoke(app, ["parse", str(log), "-o", str(prom), "-l", "job=ar"])
    backends = {
        sample.labels.get("backend")
        for family in text_string_to_metric_families(prom.read_text())
        for sample in family.samples
    }
    assert backends == {"?0"}
