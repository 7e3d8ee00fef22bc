"""The README's promises: its install-and-run command works, and its metric catalogue is the
catalogue the code writes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from exporter import catalogue

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def _commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README, flags=re.DOTALL)


def test_readme_states_the_two_commands() -> None:
    commands = _commands()
    assert "restic-textfile-exporter parse examples/" in commands[0]
    assert commands[1] == ".ci/run"


def test_readme_install_and_run_command_works(tmp_path: Path) -> None:
    """Everything after the apt-get step, in a new virtual environment (pip reaches PyPI)."""
    prologue, _, rest = _commands()[0].partition("; ")
    assert prologue == "SUDO=$(command -v sudo)"  # empty as root without sudo: works either way
    steps = [step.strip() for step in rest.split("&&")]
    steps = [step for step in steps if not step.startswith("$SUDO ")]
    assert steps[0] == "python3 -m venv .venv"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    for step in steps[1:]:
        argv = shlex.split(step.replace(".venv/", f"{venv}/"))
        result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{step}\n{result.stdout}\n{result.stderr}"
    assert 'restic_backup_success{backup="home"} 1.0' in result.stdout
    # the wheel carries the assets
    rules = subprocess.run(
        [venv / "bin" / "restic-textfile-exporter", "assets", "rules"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "alert: ResticBackupFailed" in rules.stdout


def test_readme_catalogue_lists_exactly_the_metrics_written() -> None:
    listed = set(re.findall(r"^\| `(restic_[a-z_]+)` \|", README, flags=re.MULTILINE))
    assert listed == {spec.name for spec in catalogue.ALL}
    for spec in catalogue.ALL:
        row = next(line for line in README.splitlines() if line.startswith(f"| `{spec.name}` |"))
        for label in spec.labels:
            assert f"`{label}`" in row, f"{spec.name}: label {label} missing from the README"
