"""Golden fixtures: captured restic 0.14 logs (../shared/samples), logs of the other versions and
commands built from the reference's format strings, and autorestic logs.  Beside each fixture
``NAME`` lie what it must parse to, ``NAME.expected.json`` (each command's latest run, per
autorestic location@backend), and the metrics it must render to, ``NAME.expected.prom`` (no
labels, no exit code, the log written at `WRITTEN`, no previous metrics file).

After a deliberate change, rewrite them with ``pytest tests/test_fixtures.py
--regenerate-goldens`` and review the change with ``git diff tests/fixtures``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

from exporter.exposition import exposition_text, metrics_registry
from exporter.families import log_families
from exporter.report import log_report
from parsers.commands import COMMANDS, NAMES
from parsers.log import LogParser, ParsedLog
from parsers.records import RepositoryLock, StateCounts

PARSERS = Path(__file__).parent.parent / "parsers"
WRITTEN = 1_700_000_000.0
"""When every fixture was last written, as far as its .expected.prom goes."""
LOGS = sorted(
    str(path.relative_to(FIXTURES))
    for path in (*FIXTURES.glob("*/*"), *FIXTURES.glob("real/*/*"))
    if path.is_file() and path.suffix in (".log", ".json") and ".expected." not in path.name
)
"""Every fixture, and the real restic logs of tests/fixtures/real/<version>/ (two levels deep)."""
# What else must have golden fixtures of its own: the parser module, the fixtures it reads (by
# a part of their name) and the key their expectations show it by.
FORMS = {
    "restic_text": (".log", "backup"),
    "restic_json": (".json", "backup"),
    "autorestic": ("autorestic/", "autorestic"),
}
# parsers/ modules that read no lines of their own: the shared machinery.
MACHINERY = {"__init__", "records", "units", "lines", "command", "commands", "command_log", "log"}


def _expected_json(name: str) -> Path:
    return FIXTURES / f"{name}.expected.json"


def _expected_prom(name: str) -> Path:
    return FIXTURES / f"{name}.expected.prom"


def _read(path: Path) -> tuple[ParsedLog, str | None]:
    parser = LogParser()
    # as exporter.logsource reads a log: lines end at "\n" only (0.19 starts a line with "\r")
    for line in path.read_bytes().split(b"\n"):
        parser.feed(line.rstrip(b"\r").decode("utf-8", errors="replace"))
    problem = str(parser.line_errors[0]) if parser.line_errors else None
    return parser.result(), problem


def _fields(run: Any) -> dict[str, Any]:
    fields = {}
    for field in dataclasses.fields(run):
        value = getattr(run, field.name)
        if field.name in ("first_line", "last_line", "progress"):
            continue
        if isinstance(value, StateCounts):
            value = [value.new, value.changed, value.unmodified]
        elif isinstance(value, RepositoryLock):
            value = dataclasses.asdict(value)
        elif isinstance(value, tuple):
            value = list(value)
        fields[field.name] = value
    return fields


def _runs(parsed: ParsedLog) -> dict[str, Any] | None:
    """What the log holds: each command's latest run, for autorestic per location@backend."""
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


def _prom(parsed: ParsedLog, problem: str | None) -> bytes:
    sections = log_report(
        parsed,
        exit_code=None,
        log_written_timestamp_seconds=WRITTEN,
        last_success=lambda labels: None,
        user_labels={},
        problem=problem,
    )
    return exposition_text(metrics_registry(log_families(sections, {})))


def _expectations() -> dict[str, dict[str, Any] | None]:
    return {name: json.loads(_expected_json(name).read_text()) for name in LOGS}


@pytest.mark.parametrize("name", LOGS)
def test_fixture_parses_to_its_expected_runs(name: str, regenerate_goldens: bool) -> None:
    parsed, _ = _read(FIXTURES / name)
    runs = _runs(parsed)
    golden = _expected_json(name)
    if regenerate_goldens:
        golden.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
    assert golden.is_file(), f"{name} has no {golden.name}: run with --regenerate-goldens"
    assert runs == json.loads(golden.read_text())


@pytest.mark.parametrize("name", LOGS)
def test_fixture_renders_to_its_expected_metrics(name: str, regenerate_goldens: bool) -> None:
    parsed, problem = _read(FIXTURES / name)
    prom = _prom(parsed, problem)
    golden = _expected_prom(name)
    if regenerate_goldens:
        golden.write_bytes(prom)
    assert golden.is_file(), f"{name} has no {golden.name}: run with --regenerate-goldens"
    assert prom.decode() == golden.read_text()


def test_every_expected_file_has_its_fixture() -> None:
    goldens = {
        str(path.relative_to(FIXTURES))
        .removesuffix(".expected.json")
        .removesuffix(".expected.prom")
        for path in (*FIXTURES.glob("*/*.expected.*"), *FIXTURES.glob("real/*/*.expected.*"))
    }
    assert sorted(goldens) == LOGS


@pytest.mark.parametrize("command", NAMES)
def test_every_command_has_golden_fixtures(command: str) -> None:
    covered = [
        name
        for name, expected in _expectations().items()
        if expected is not None and any(key.split(" ")[-1] == command for key in expected)
    ]
    assert len(covered) >= 3, f"the {command} command has too few golden fixtures: {covered}"


@pytest.mark.parametrize(("module", "form"), sorted(FORMS.items()))
def test_every_output_form_has_golden_fixtures(module: str, form: tuple[str, str]) -> None:
    assert (PARSERS / f"{module}.py").is_file()
    part, key = form
    covered = [
        name
        for name, expected in _expectations().items()
        if part in name and expected is not None and any(k.split(" ")[-1] == key for k in expected)
    ]
    assert len(covered) >= 3, f"parsers/{module}.py has too few golden fixtures: {covered}"


def test_every_command_module_is_in_commands() -> None:
    """A module that reads lines is a form of backup's output, autorestic's, or a command that
    COMMANDS lists (jc's rule: a parser that is not registered does not exist)."""
    registered = {command.parse_line.__module__.removeprefix("parsers.") for command in COMMANDS}
    modules = {path.stem for path in PARSERS.glob("*.py")} - MACHINERY - {"restic_template"}
    assert modules - set(FORMS) - {"backup_log"} == registered - {"restic_text"}
    assert "backup_log" in modules and COMMANDS[0].name == "backup"
