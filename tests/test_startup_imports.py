"""What a one-shot command imports: nothing it does not use (issue 13, target 3).

Start-up is most of what a ``parse`` from an ExecStopPost= hook costs, and most of start-up is
imports.  Each command runs here in a fresh interpreter, as a user runs it, and the modules it
loaded are read from ``sys.modules`` as it exits.  Nothing is timed: the benchmark suite measures
the time (tests/benchmarks/test_speed_targets.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

from exporter import cli, config

ROOT = Path(__file__).parent.parent
REAL = FIXTURES / "real" / "0.14.0"

# Runs the installed command's entry point (`python -m exporter`), then writes the names in
# sys.modules to the file named by its first argument, however the command exits.
_LIST_MODULES = (
    "import atexit, json, runpy, sys\n"
    "listing = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(listing, 'w').write(json.dumps(sorted(sys.modules))))\n"
    "runpy.run_module('exporter', run_name='__main__', alter_sys=True)\n"
)

# No one-shot command uses these: the daemon, its config and the network outputs are loaded
# only by the commands and options that use them, and typer's coercion through pydantic
# (typer 0.29) and its rich help are not wanted.
NEVER_ONE_SHOT = (
    "watchdog",
    "pydantic",
    "rich",
    "tomllib",
    "typer.testing",
    "exporter.config",
    "exporter.daemon_log",
    "exporter.debounce",
    "exporter.follow",
    "exporter.notify",
    "exporter.ping",
    "exporter.positions",
    "exporter.push",
    "exporter.run_wrapper",
    "exporter.watch",
    "exporter.watch_job",
    "exporter.watch_messages",
    "exporter.watch_plan",
)


def imported(tmp_path: Path, *args: str) -> set[str]:
    """The modules loaded by ``restic-textfile-exporter ARGS``, which must exit 0."""
    listing = tmp_path / "modules.json"
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, str(listing), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modules: list[str] = json.loads(listing.read_text())
    return set(modules)


def loaded(modules: set[str], *names: str) -> list[str]:
    """Which of `names` (a package counts with its submodules) are in `modules`."""
    return [name for name in names if any(m == name or m.startswith(f"{name}.") for m in modules)]


@pytest.mark.parametrize(
    "log",
    [
        REAL / "json.log",  # backup --json
        FIXTURES / "commands" / "v0.14.0-forget.json",
        FIXTURES / "commands" / "v0.18.0-check.json",
    ],
    ids=lambda log: log.name,
)
def test_parse_of_a_json_log_loads_no_unit_library(tmp_path: Path, log: Path) -> None:
    modules = imported(tmp_path, "parse", str(log), "-o", str(tmp_path / "out.prom"))
    # What it does use, so that an empty listing cannot pass.
    assert loaded(modules, "prometheus_client", "exporter.exposition", "typer")
    assert loaded(modules, "pint", *NEVER_ONE_SHOT) == []


@pytest.mark.parametrize("log", ["locked.log", "wrong_password.log", "check.log"])
def test_parse_of_a_text_log_without_sizes_loads_no_unit_library(tmp_path: Path, log: str) -> None:
    modules = imported(tmp_path, "parse", str(REAL / log), "-o", str(tmp_path / "out.prom"))
    assert "prometheus_client" in modules
    assert loaded(modules, "pint", *NEVER_ONE_SHOT) == []


def test_parse_of_a_text_log_with_sizes_loads_pint_for_them(tmp_path: Path) -> None:
    modules = imported(
        tmp_path, "parse", str(REAL / "default.log"), "-o", str(tmp_path / "out.prom")
    )
    assert "pint" in modules  # "Added to the repository: 9.050 KiB": converted by pint
    assert loaded(modules, *NEVER_ONE_SHOT) == []


def test_parse_with_labels_and_stdout_loads_no_daemon_or_network_module(tmp_path: Path) -> None:
    modules = imported(tmp_path, "parse", str(REAL / "json.log"), "--label", "backup=home")
    assert loaded(modules, "pint", *NEVER_ONE_SHOT) == []


@pytest.mark.parametrize(
    "args", [["--help"], ["parse", "--help"], ["--version"], ["assets", "rules"]]
)
def test_help_version_and_assets_load_no_parser_and_no_exposition(
    tmp_path: Path, args: list[str]
) -> None:
    modules = imported(tmp_path, *args)
    assert "exporter.cli" in modules
    assert loaded(modules, "parsers", "prometheus_client", "pint", *NEVER_ONE_SHOT) == []


def test_the_cli_default_debounce_is_the_config_default() -> None:
    # cli.py repeats the value so that no one-shot command has to import exporter.config.
    assert cli.DEFAULT_DEBOUNCE_SECONDS == config.DEFAULT_DEBOUNCE_SECONDS
