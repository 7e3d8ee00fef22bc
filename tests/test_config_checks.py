"""watch checks its config as parse checks its options: the same warnings in the same words, and
a directory that cannot be written to refused at start (exit 2) instead of errors for ever."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES
from test_cli import invoke

from exporter.config import ConfigError, load_config

EXAMPLE = Path(__file__).parent.parent / "examples" / "restic-textfile-exporter.toml"


def _config(tmp_path: Path, output: str, labels: str = 'backup = "home"') -> Path:
    config = tmp_path / "exporter.toml"
    config.write_text(
        f'[[job]]\nlog = "{tmp_path / "home.log"}"\noutput = "{tmp_path / output}"\n'
        f"labels = {{ {labels} }}\n"
    )
    return config


def test_watch_warns_in_the_words_parse_uses(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, "home.txt", 'job = "home"'))
    parse = invoke(str(FIXTURES / "restic-0.14" / "backup1.log"), "-o", str(tmp_path / "home.txt"),
                   "-l", "job=home")  # fmt: skip
    said_by_parse = [
        line.removeprefix("restic-textfile-exporter: warning: ")
        for line in parse.stderr.splitlines()
        if "warning" in line
    ]
    assert len(said_by_parse) == 2
    assert set(config.warnings) == {
        "job #1: " + said.replace("--label ", "labels: ", 1) for said in said_by_parse
    }


@pytest.mark.parametrize("key", ["output", "state_file"])
def test_a_missing_directory_is_refused_at_start(tmp_path: Path, key: str) -> None:
    config = _config(tmp_path, "missing/home.prom" if key == "output" else "home.prom")
    if key == "state_file":
        config.write_text(f'state_file = "{tmp_path / "no" / "state.json"}"\n' + config.read_text())
    with pytest.raises(ConfigError, match=rf"{key}: the directory .* does not exist: create it"):
        load_config(config)


def test_watch_with_a_log_refuses_a_missing_directory_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "watch", str(tmp_path / "a.log"),
         "-o", str(tmp_path / "nope" / "a.prom")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "does not exist: create it" in result.stderr


def test_the_example_config_works_as_copied(tmp_path: Path) -> None:
    """With its directories made (here under tmp_path), the example loads without a warning."""
    text = EXAMPLE.read_text().replace('"/var/', f'"{tmp_path}/var/')
    for directory in ("var/lib/restic-textfile-exporter", "var/lib/prometheus/node-exporter"):
        (tmp_path / directory).mkdir(parents=True)
    copied = tmp_path / "example.toml"
    copied.write_text(text)
    config = load_config(copied)
    assert config.warnings == ()
    assert [job.labels for job in config.jobs] == [{"backup": "home"}]
    (tmp_path / "var/lib/restic-textfile-exporter").rmdir()
    with pytest.raises(ConfigError, match="mkdir -p"):
        load_config(copied)
