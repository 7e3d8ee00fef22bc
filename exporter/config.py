"""watch mode's configuration: a TOML file (read with the standard library's tomllib).

```toml
debounce_seconds = 1.0                                          # optional
state_file = "/var/lib/restic-textfile-exporter/state.json"     # optional

[[job]]
log = "/var/log/restic/home.log"
output = "/var/lib/prometheus/node-exporter/restic-home.prom"
labels = { backup = "home" }                                       # optional
partial_ok = false     # optional: true counts exit-3 runs (some files unreadable) as success
push = ["https://pushgateway.example.net:9091"]   # optional: also push there (as parse --push)
push_job = "restic"                      # optional, as --push-job
push_user = "restic"                     # optional, as --push-user; its password from a file,
push_password_file = "/etc/restic-textfile-exporter/push-password"  # or the environment
push_ca_file = "/etc/ssl/private/gateway-ca.pem"   # optional, as --push-ca-file
push_client_cert = "/etc/ssl/private/exporter.pem" # optional, as --push-client-cert
push_client_key = "/etc/ssl/private/exporter.key"  # optional, as --push-client-key
# (the environment: $RESTIC_EXPORTER_PUSH_PASSWORD, e.g. from the unit's EnvironmentFile=)
push_timeout_seconds = 10                # optional, as --push-timeout
```

Every mistake is reported with the file, the line and the key it is about.  The file is read
without blocking and at most `MAX_CONFIG_BYTES` of it, so ``--config`` naming a FIFO or
``/dev/zero`` is an error, not a hang; and no two of the files the daemon writes or reads (each
job's log and output, the state file, the config itself) may be one file, however they are
spelled.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.advice import label_advice, missing_directory, output_advice
from exporter.catalogue import label_problem
from exporter.errors import ExporterError
from exporter.paths import describe_os_error
from exporter.textfile import replaceable_problem

DEFAULT_DEBOUNCE_SECONDS = 1.0
MAX_CONFIG_BYTES = 1024 * 1024
"""A config with a thousand jobs is about 200 KiB."""
_TOP_KEYS = {"debounce_seconds", "state_file", "job"}
_PUSH_PATHS = ("push_password_file", "push_ca_file", "push_client_cert", "push_client_key")
_JOB_KEYS = {
    "log",
    "output",
    "labels",
    "partial_ok",
    "push",
    "push_job",
    "push_user",
    "push_timeout_seconds",
    *_PUSH_PATHS,
}


class ConfigError(ExporterError):
    exit_code = 2


@dataclass(frozen=True)
class PushOptions:
    """A job's ``push_*`` keys, as ``parse``'s ``--push-*`` options say them."""

    job: str | None = None
    user: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Job:
    log: Path
    output: Path
    labels: dict[str, str] = field(default_factory=dict)
    partial_ok: bool = False
    """As ``parse --partial-ok``: a snapshot saved with unreadable files counts as success."""
    push: tuple[str, ...] = ()
    """Gateways to push the job's metrics to as well, as ``parse --push`` (the grouping key is
    the job's labels and this host's name; the textfile carries the last success)."""
    push_options: PushOptions = field(default_factory=lambda: PushOptions())
    """How to push: the job name, basic auth and TLS, as parse's --push-* options."""

    @property
    def key(self) -> str:
        """What identifies the job across reloads and restarts."""
        return str(self.output)


@dataclass(frozen=True)
class Config:
    jobs: tuple[Job, ...]
    debounce_seconds: float = DEFAULT_DEBOUNCE_SECONDS
    state_file: Path | None = None
    warnings: tuple[str, ...] = ()
    """What works but will surprise (an output not ending in .prom, a job label): logged at
    every load, in the words parse uses for the same options."""


def load_config(path: Path) -> Config:
    """Read and check `path`.  Raises ConfigError naming the file, line and key."""
    text = _read_config_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from None
    except RecursionError:
        raise ConfigError(f"{path}: values nested too deeply") from None
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
    config = Config(jobs, float(debounce), Path(state_file) if state_file else None)
    _check_distinct_files(config, path, where)
    return checked(config, where)


def checked(config: Config, where: _Locator | None = None) -> Config:
    """`config` with its warnings, after the checks every config gets, from a file or from
    the command line.  Raises ConfigError for a directory that does not exist: the daemon
    could never write there."""

    def error(key: str, message: str, job: int | None = None) -> ConfigError:
        if where is not None:
            return where.error(key, message, job=job)
        return ConfigError(f"{'--output' if key == 'output' else '--state-file'}: {message}")

    warnings: list[str] = []
    for index, job in enumerate(config.jobs):
        prefix = f"job #{index + 1}: " if where is not None else ""
        if problem := missing_directory(job.output) or replaceable_problem(job.output):
            raise error("output", problem, job=index)
        warnings += output_advice(job.output, prefix)
        warnings += label_advice(
            job.labels, f"{prefix}labels: " if where is not None else "--label "
        )
    if config.state_file is not None and (problem := missing_directory(config.state_file)):
        raise error("state_file", problem)
    return dataclasses.replace(config, warnings=tuple(warnings))


def _read_config_text(path: Path) -> str:
    """The text of `path`: a regular file of at most MAX_CONFIG_BYTES, in UTF-8."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags)
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise ConfigError(f"cannot read config {path}: it is not a regular file")
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_CONFIG_BYTES and (chunk := os.read(descriptor, 65536)):
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(descriptor)
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {describe_os_error(error)}") from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"cannot read config {path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"cannot read config {path}: not UTF-8 (byte {error.start})") from None


@dataclass(frozen=True)
class _Role:
    file: Path
    description: str
    key: str
    job: int | None = None
    is_log: bool = False


def _check_distinct_files(config: Config, path: Path, where: _Locator) -> None:
    """Refuse two roles for one file: a log overwritten with metrics, an output that is the
    state file, two jobs writing one output (``tf/x.prom`` and ``tf/../tf/x.prom``).  Two jobs
    may read one log."""
    roles = [_Role(path, "the config file", "")]
    if config.state_file is not None:
        roles.append(_Role(config.state_file, "the state_file", "state_file"))
    for index, job in enumerate(config.jobs):
        roles.append(_Role(job.log, f"the log of job #{index + 1}", "log", index, is_log=True))
        roles.append(_Role(job.output, f"the output of job #{index + 1}", "output", index))
    # What `same_file` compares, computed once per file: a thousand jobs are checked in
    # milliseconds, not in minutes of comparing each pair.
    seen: dict[object, list[int]] = {}
    for position, role in enumerate(roles):
        clashes = [
            earlier
            for identity in _identities(role.file)
            for earlier in seen.get(identity, ())
            if not (role.is_log and roles[earlier].is_log)
        ]
        if clashes:
            raise where.error(
                role.key,
                f"{role.file} is also {roles[min(clashes)].description}: give each its own file",
                job=role.job,
            )
        for identity in _identities(role.file):
            seen.setdefault(identity, []).append(position)


def _identities(path: Path) -> tuple[object, ...]:
    """Two paths are `same_file` when they share one of these: the device and inode of a file
    that exists, or the absolute path with ``..`` and the links that exist resolved."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return (os.path.realpath(path),)
    return ((status.st_dev, status.st_ino), os.path.realpath(path))


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
    push = raw.get("push", [])
    if not isinstance(push, list) or not all(isinstance(url, str) for url in push):
        raise where.error("push", 'must be a list of URLs, e.g. ["http://gw:9091"]', job=index)
    from exporter.push import check_gateway_url  # here: exporter.push imports this module

    for url in push:
        try:
            check_gateway_url(url)
        except ValueError as error:
            raise where.error("push", str(error), job=index) from None
    options = _push_options(raw, index, where)
    if push:
        from exporter.push import job_push_settings  # here: exporter.push imports this module

        try:  # what parse would refuse (an unreadable password file, a job label clash)
            job_push_settings(options, dict(labels))
        except (ValueError, OSError) as error:
            raise where.error("push", str(error), job=index) from None
    return Job(
        Path(raw["log"]), Path(raw["output"]), dict(labels), partial_ok, tuple(push), options
    )


def _push_options(raw: dict[str, Any], index: int, where: _Locator) -> PushOptions:
    for key in ("push_job", "push_user", *_PUSH_PATHS):
        if key in raw and (not isinstance(raw[key], str) or not raw[key]):
            raise where.error(key, "must be a non-empty string", job=index)
    timeout = raw.get("push_timeout_seconds", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise where.error("push_timeout_seconds", "must be a number of seconds from 0 to 300",
                          job=index)  # fmt: skip

    def path(key: str) -> Path | None:
        return Path(raw[key]) if key in raw else None

    return PushOptions(
        job=raw.get("push_job"),
        user=raw.get("push_user"),
        password_file=path("push_password_file"),
        ca_file=path("push_ca_file"),
        client_cert=path("push_client_cert"),
        client_key=path("push_client_key"),
        timeout_seconds=float(timeout),
    )


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
