"""Golden fixtures: captured restic 0.14 logs (../shared/samples) and logs of the other versions
built from the reference's format strings, each with the run it must parse to (expected.json)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

from parsers.log import parse_log
from parsers.records import StateCounts

EXPECTED: dict[str, dict[str, Any] | None] = json.loads((FIXTURES / "expected.json").read_text())
LOGS = sorted(
    str(path.relative_to(FIXTURES))
    for path in FIXTURES.glob("*/*")
    if path.suffix in (".log", ".json")
)
# Each parser module must be exercised by real-looking output of its own: module -> (the fixture
# names it reads, the command whose runs it makes).
PARSER_FIXTURES = {
    "restic_text": (".log", "backup"),
    "restic_json": (".json", "backup"),
    "restic_forget": ("", "forget"),
    "restic_prune": ("", "prune"),
    "restic_check": ("", "check"),
    "restic_stats": ("", "stats"),
    "autorestic": ("autorestic/", "autorestic"),
}


def _fields(run: object) -> dict[str, Any]:
    fields = {}
    for field in dataclasses.fields(run):  # type: ignore[arg-type]
        value = getattr(run, field.name)
        if field.name in ("first_line", "last_line", "progress"):
            continue
        if isinstance(value, StateCounts):
            value = [value.new, value.changed, value.unmodified]
        fields[field.name] = value
    return fields


def _parse(path: Path) -> dict[str, Any] | None:
    """What the log holds: each command's latest run, for autorestic per location@backend."""
    with path.open(encoding="utf-8", errors="replace", newline="") as log:
        parsed = parse_log(line.rstrip("\r\n") for line in log)
    result: dict[str, Any] = {}
    for section in parsed.sections:
        prefix = f"{section.location}@{section.backend} " if parsed.autorestic else ""
        for command, run in section.commands.items():
            result[prefix + command] = _fields(run)
        if parsed.autorestic:
            result[prefix + "autorestic"] = {
                "failed": section.autorestic_failed,
                "exit_code": section.autorestic_exit_code,
                "finished": section.autorestic_finished,
                "backup": section.autorestic_backup,
            }
    return result or None


@pytest.mark.parametrize("name", LOGS)
def test_fixture_parses_to_its_expected_run(name: str) -> None:
    assert name in EXPECTED, f"{name} has no expectation in expected.json"
    assert _parse(FIXTURES / name) == EXPECTED[name]


def test_every_expectation_has_its_fixture() -> None:
    assert sorted(EXPECTED) == LOGS


@pytest.mark.parametrize(("module", "fixture"), sorted(PARSER_FIXTURES.items()))
def test_every_parser_has_golden_fixtures(module: str, fixture: tuple[str, str]) -> None:
    assert (Path(__file__).parent.parent / "parsers" / f"{module}.py").is_file()
    part, command = fixture
    covered = [
        name
        for name, expected in EXPECTED.items()
        if part in name
        and expected is not None
        and any(key.split(" ")[-1] == command for key in expected)
    ]
    assert len(covered) >= 3, f"parsers/{module}.py has too few golden fixtures: {covered}"


def test_every_parser_module_is_covered() -> None:
    parsers = Path(__file__).parent.parent / "parsers"
    modules = {p.stem for p in parsers.glob("*.py")} - {
        "__init__",
        "records",
        "units",
        "lines",
        "backup_log",
        "command_log",
        "log",
    }
    assert modules == set(PARSER_FIXTURES)
