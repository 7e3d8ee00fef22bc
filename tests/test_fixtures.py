"""Golden fixtures: captured restic 0.14 logs (../shared/samples) and logs of the other versions
built from the reference's format strings, each with the run it must parse to (expected.json)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

from parsers import parse_backup_log

EXPECTED: dict[str, dict[str, Any] | None] = json.loads((FIXTURES / "expected.json").read_text())
LOGS = sorted(
    str(path.relative_to(FIXTURES))
    for path in FIXTURES.glob("*/*")
    if path.suffix in (".log", ".json")
)
# Each parser module must be exercised by real-looking captured output of its own.
PARSER_FIXTURE_SUFFIX = {"restic_text": ".log", "restic_json": ".json"}


def _parse(path: Path) -> dict[str, Any] | None:
    with path.open(encoding="utf-8", errors="replace", newline="") as log:
        run = parse_backup_log(line.rstrip("\r\n") for line in log).latest_run
    if run is None:
        return None
    fields = {}
    for field in dataclasses.fields(run):
        value = getattr(run, field.name)
        if field.name in ("first_line", "last_line", "progress"):
            continue
        if dataclasses.is_dataclass(value):
            value = [value.new, value.changed, value.unmodified]  # type: ignore[union-attr]
        fields[field.name] = value
    return fields


@pytest.mark.parametrize("name", LOGS)
def test_fixture_parses_to_its_expected_run(name: str) -> None:
    assert name in EXPECTED, f"{name} has no expectation in expected.json"
    assert _parse(FIXTURES / name) == EXPECTED[name]


def test_every_expectation_has_its_fixture() -> None:
    assert sorted(EXPECTED) == LOGS


@pytest.mark.parametrize(("module", "suffix"), sorted(PARSER_FIXTURE_SUFFIX.items()))
def test_every_parser_has_golden_fixtures(module: str, suffix: str) -> None:
    assert (Path(__file__).parent.parent / "parsers" / f"{module}.py").is_file()
    parsed = [name for name in LOGS if name.endswith(suffix) and EXPECTED[name] is not None]
    assert len(parsed) >= 3, f"parsers/{module}.py has too few golden fixtures"


def test_every_parser_module_is_covered() -> None:
    modules = {p.stem for p in (Path(__file__).parent.parent / "parsers").glob("restic_*.py")}
    assert modules == set(PARSER_FIXTURE_SUFFIX)
