"""watch mode's configuration: a TOML file (read with the standard library's tomllib).

```toml
debounce_seconds = 1.0                                          # optional
state_file = "/var/lib/restic-textfile-exporter/state.json"     # optional

[[job]]
log = "/var/log/restic/home.log"
output = "/var/lib/prometheus/node-exporter/restic-home.prom"
labels = { backup = "home" }                                       # optional
partial_ok = false     # optional: true counts exit-3 runs (some files unreadable) as success
```

Every mistake is reported with the file, the line and the key it is about.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.catalogue import RESERVED_LABELS
from exporter.errors import ExporterError

DEFAULT_DEBOUNCE_SECONDS = 1.0
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TOP_KEYS = {"debounce_seconds", "state_file", "job"}
_JOB_KEYS = {"log", "output", "labels", "partial_ok"}


class ConfigError(ExporterError):
    exit_code = 2


@dataclass(frozen=True)
class Job:
    log: Path
    output: Path
    labels: dict[str, str] = field(default_factory=dict)
    partial_ok: bool = False
    """As ``parse --partial-ok``: a snapshot saved with unreadable files counts as success."""

    @property
    def key(self) -> str:
        """What identifies the job across reloads and restarts."""
        return str(self.output)


@dataclass(frozen=True)
class Config:
    jobs: tuple[Job, ...]
    debounce_seconds: float = DEFAULT_DEBOUNCE_SECONDS
    state_file: Path | None = None


def label_problem(name: str, value: object) -> str | None:
    """Why `name = value` cannot be a label of ours, or None."""
    if not LABEL_NAME.fullmatch(name) or name.startswith("__"):
        return f"{name!r} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)"
    if name in RESERVED_LABELS:
        return f"{name!r} is used by the metrics themselves"
    if not isinstance(value, str):
        return f"the value of {name!r} must be a string"
    return None


def load_config(path: Path) -> Config:
    """Read and check `path`.  Raises ConfigError naming the file, line and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config {path}: {error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from None
    where = _Locator(path, text)
    for key in data:
        if key not in _TOP_KEYS:
            raise where.error(key, f"unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    debounce = data.get("debounce_seconds", DEFAULT_DEBOUNCE_SECONDS)
    if (
        isinstance(debounce, bool)
        or not isinstance(debounce, int | float)
        or not 0 <= debounce <= 3600
    ):
        raise where.error("debounce_seconds", "must be a number of seconds from 0 to 3600")
    state_file = data.get("state_file")
    if state_file is not None and not isinstance(state_file, str):
        raise where.error("state_file", "must be a path (a string)")
    raw_jobs = data.get("job", [])
    if not isinstance(raw_jobs, list) or not raw_jobs:
        raise where.error("job", "needs at least one [[job]] table with log and output")
    jobs = tuple(_job(raw, index, where) for index, raw in enumerate(raw_jobs))
    outputs = [job.output for job in jobs]
    for index, output in enumerate(outputs):
        if output in outputs[:index]:
            raise where.error("output", f"{output} is the output of two jobs", job=index)
    return Config(jobs, float(debounce), Path(state_file) if state_file else None)


def _job(raw: Any, index: int, where: _Locator) -> Job:
    if not isinstance(raw, dict):
        raise where.error("job", "must be a table ([[job]])")
    for key in raw:
        if key not in _JOB_KEYS:
            known = ", ".join(sorted(_JOB_KEYS))
            raise where.error(key, f"unknown key {key!r} (known: {known})", job=index)
    for key in ("log", "output"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise where.error(key, "is required and must be a path (a string)", job=index)
    labels = raw.get("labels", {})
    if not isinstance(labels, Mapping):
        raise where.error("labels", 'must be a table, e.g. { job = "home" }', job=index)
    for name, value in labels.items():
        if problem := label_problem(name, value):
            raise where.error("labels", problem, job=index)
    partial_ok = raw.get("partial_ok", False)
    if not isinstance(partial_ok, bool):
        raise where.error("partial_ok", "must be true or false", job=index)
    return Job(Path(raw["log"]), Path(raw["output"]), dict(labels), partial_ok)


class _Locator:
    """Finds the line a key is on, for error messages: tomllib reports only syntax errors'
    positions."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def error(self, key: str, message: str, job: int | None = None) -> ConfigError:
        line = self._line_of(key, job)
        where = f"{self.path}:{line}" if line else str(self.path)
        table = f"job #{job + 1}: " if job is not None else ""
        return ConfigError(f"{where}: {table}{key}: {message}")

    def _line_of(self, key: str, job: int | None) -> int | None:
        key_line = re.compile(rf"^\s*{re.escape(key)}\s*=|^\s*\[\[?\s*{re.escape(key)}\s*\]")
        jobs_seen = -1
        for number, line in enumerate(self.lines, start=1):
            if re.match(r"^\s*\[\[\s*job\s*\]\]", line):
                jobs_seen += 1
                if job is not None and jobs_seen == job and key == "job":
                    return number
            if (job is None or jobs_seen == job) and key_line.match(line):
                return number
        if job is not None:  # the key is missing: point at its table
            return self._line_of("job", job) if key != "job" else None
        return None
