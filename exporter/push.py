"""Pushing the metrics to a Prometheus Pushgateway (or to VictoriaMetrics, which takes the same
push), for hosts that Prometheus cannot scrape: short-lived VMs, hosts behind NAT, laptops.

The push is prometheus_client's (`push_to_gateway` for PUT, `pushadd_to_gateway` for POST,
`delete_from_gateway`), with a handler of ours for basic auth, TLS (a CA bundle, a client
certificate), a timeout and a bounded retry with backoff.

The grouping key.  A Pushgateway keeps one group per grouping key, and a PUT replaces the whole
group: two backups pushed with one key would replace each other.  So the key is the push job
(``--push-job``, default ``restic``), ``instance`` (the host's name unless given), the user's
labels (``--label backup=home``), any ``--grouping NAME=VALUE``, and, for an autorestic log,
each section's ``location`` and ``backend``: one group per location and backend.  Every label in
the key is also on the samples with the same value (the Pushgateway 1.5 accepts that, and
silently rewrites a sample's label that differs from the key: we never let one differ).

Carrying forward without a textfile.  When nothing else is written (no ``--output``), the last
success of each backup is read back from the gateway itself before pushing: the Pushgateway
serves every group on ``/metrics``.  When the gateway cannot be reached to read it back, it is
not pushed to either (a PUT without the last success would erase it).  VictoriaMetrics cannot
give a group back; with it, keep a textfile (``--output``, anywhere) as the state.

The run memory (`exporter.run_memory`: which run a metric set describes, so that its time never
moves) is not kept on a gateway: a gateway holds metrics, not our bookkeeping, and a metric
made up to carry it would be one more series for every user.  Without a textfile a run is new
to every ``parse``, and its time comes from restic's own end time or the log's mtime, which do
not move unless the log is touched.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import math
import os
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from prometheus_client.core import CollectorRegistry, Metric
from prometheus_client.exposition import (
    delete_from_gateway,
    push_to_gateway,
    pushadd_to_gateway,
)
from prometheus_client.parser import text_string_to_metric_families

from exporter.catalogue import (
    BACKUP_LAST_SUCCESS,
    BACKUP_SUCCESS,
    SECTION_LABELS,
    label_problem,
)
from exporter.config import PushOptions
from exporter.errors import PushFailed
from exporter.exposition import metrics_registry
from exporter.outputs import Carried
from exporter.previous import CLOCK_DRIFT_SECONDS, PreviousMetrics
from exporter.run_memory import RunMemory

DEFAULT_PUSH_JOB = "restic"
PASSWORD_ENVIRONMENT_VARIABLE = "RESTIC_EXPORTER_PUSH_PASSWORD"
VICTORIA_METRICS_IMPORT_PATH = "/api/v1/import/prometheus"
"""A push URL ending in this path is VictoriaMetrics's import endpoint."""
MAX_READ_BACK_BYTES = 64 * 1024 * 1024
"""A Pushgateway's /metrics with a fleet's groups; anything larger is not read."""
MAX_BACKOFF_SECONDS = 30.0

PushMethod = Literal["put", "post"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class PushSettings:
    """What every gateway of one command is pushed with."""

    job: str = DEFAULT_PUSH_JOB
    grouping: Mapping[str, str] = field(default_factory=dict)
    """The grouping key's labels beyond the job and the user's labels (``instance``, and
    ``--grouping``); the user's labels and autorestic's are added per push."""
    method: PushMethod = "put"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    timeout_seconds: float = 10.0
    retries: int = 2
    backoff_seconds: float = 1.0
    """The wait before the first retry; doubled before each next one."""


def push_settings(
    *,
    labels: Mapping[str, str],
    job: str | None = None,
    grouping: list[str] | tuple[str, ...] = (),
    method: str = "put",
    user: str | None = None,
    password_file: Path | None = None,
    environment: Mapping[str, str] = os.environ,
    ca_file: Path | None = None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    timeout_seconds: float = 10.0,
    retries: int = 2,
) -> PushSettings:
    """The settings from a command's options.  Raises ValueError saying what is wrong."""
    if method not in ("put", "post"):
        raise ValueError(f"--push-method {method!r}: give put (replace the group) or post")
    push_job = _push_job(job, labels)
    key = {"instance": labels.get("instance", socket.gethostname())}
    for item in grouping:
        name, equals, value = item.partition("=")
        if not equals:
            raise ValueError(f"--grouping {item!r} is not NAME=VALUE")
        if name == "job":
            raise ValueError("--grouping job=...: the job is --push-job")
        if name in SECTION_LABELS:
            raise ValueError(f"--grouping {name}=...: autorestic's {name} is taken from the log")
        if problem := label_problem(name, value):
            raise ValueError(f"--grouping: {problem}")
        if name in labels and labels[name] != value:
            raise ValueError(
                f"--grouping {name}={value!r} differs from --label {name}={labels[name]!r}: "
                "a sample's label must equal the grouping key's"
            )
        key[name] = value
    if not math.isfinite(timeout_seconds) or not 0 < timeout_seconds <= 600:
        raise ValueError("--push-timeout must be a number of seconds from 0 to 600")
    if not 0 <= retries <= 10:
        raise ValueError("--push-retries must be from 0 to 10")
    password = _password(password_file, environment)
    if (user is None) != (password is None):
        raise ValueError(
            "basic auth needs both --push-user and a password (--push-password-file or "
            f"${PASSWORD_ENVIRONMENT_VARIABLE})"
        )
    if client_key is not None and client_cert is None:
        raise ValueError("--push-client-key needs --push-client-cert")
    for option, path in (
        ("--push-ca-file", ca_file),
        ("--push-client-cert", client_cert),
        ("--push-client-key", client_key),
    ):
        if path is not None and not path.is_file():
            raise ValueError(f"{option} {path}: no such file")
    return PushSettings(
        job=push_job,
        grouping=key,
        method="post" if method == "post" else "put",
        user=user,
        password=password,
        ca_file=ca_file,
        client_cert=client_cert,
        client_key=client_key,
        timeout_seconds=timeout_seconds,
        retries=retries,
    )


def _push_job(job: str | None, labels: Mapping[str, str]) -> str:
    """The push job: ``--push-job``, else the user's ``job`` label, else ``restic``."""
    if "job" in labels and job is not None and job != labels["job"]:
        raise ValueError(
            f"--push-job {job!r} differs from --label job={labels['job']!r}: give one of them"
        )
    push_job = job if job is not None else labels.get("job", DEFAULT_PUSH_JOB)
    if not push_job:
        raise ValueError("--push-job must not be empty")
    return push_job


def _password(password_file: Path | None, environment: Mapping[str, str]) -> str | None:
    """The password from its file (its one line, without the line ending) or the environment;
    never from the command line, where ``ps`` shows it."""
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8"
            raise ValueError(
                f"cannot read --push-password-file {password_file}: {reason}"
            ) from None
        return text.removesuffix("\n").removesuffix("\r")
    return environment.get(PASSWORD_ENVIRONMENT_VARIABLE) or None


def check_gateway_url(url: str) -> str:
    """`url` if it can be pushed to: http or https, a host, no credentials (they would show in
    ``ps``), no query.  Raises ValueError."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--push {url!r}: give an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"--push: no credentials in the URL (ps shows them): use --push-user and "
            f"--push-password-file or ${PASSWORD_ENVIRONMENT_VARIABLE}"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"--push {url!r}: no query or fragment")
    return url.rstrip("/")


class PushgatewayOutput:
    """One gateway: every group of the registry pushed to it (`exporter.outputs.Output`)."""

    def __init__(
        self,
        url: str,
        settings: PushSettings,
        labels: Mapping[str, str],
        *,
        read_back: bool = True,
    ) -> None:
        self.url = check_gateway_url(url)
        self.settings = settings
        self.labels = dict(labels)
        self.read_back = read_back
        """Read the last success back from the gateway: true when no other output keeps it."""
        self._unreachable: PushFailed | None = None
        self._ssl_context = _ssl_context(settings) if self.url.startswith("https:") else None

    @property
    def name(self) -> str:
        return self.url

    @property
    def is_victoria_metrics(self) -> bool:
        return urllib.parse.urlsplit(self.url).path.endswith(VICTORIA_METRICS_IMPORT_PATH)

    def claim(self) -> AbstractContextManager[object]:
        return contextlib.nullcontext()

    def carried_forward(self, now: float) -> Carried:
        """The last successes this gateway holds for our groups (when `read_back`)."""
        self._unreachable = None
        if not self.read_back:
            return Carried()
        if self.is_victoria_metrics:
            warning = (
                f"{self.url}: VictoriaMetrics cannot give the last success back; keep a "
                "textfile (--output PATH.prom, anywhere) so that a failed run carries it"
            )
            return Carried(PreviousMetrics(warning=warning))
        try:
            text = self._with_retries("read the last success back from", self._read_group)
        except PushFailed as error:
            if not isinstance(error.__cause__, urllib.error.HTTPError):
                self._unreachable = error
            return Carried(PreviousMetrics(warning=f"{error}: no last success carried forward"))
        try:
            return Carried(self._previous(text, now), RunMemory())
        except Exception as error:  # whatever a gateway serves must not stop a run
            problem = ascii(str(error)[:120])
            warning = f"{self.url}/metrics is not a metrics page: {problem}"
            return Carried(PreviousMetrics(warning=f"{warning}; no last success carried forward"))

    def publish(self, registry: CollectorRegistry, memory: RunMemory) -> tuple[str, ...]:
        """Every group, each with its bounded retries; raises PushFailed naming the gateway
        (after trying every group) when one could not be pushed.  `memory` is not kept."""
        if self._unreachable is not None:
            raise self._unreachable
        push = push_to_gateway if self.settings.method == "put" else pushadd_to_gateway
        failures: list[PushFailed] = []
        for key, group in _groups(registry):
            grouping_key = self.grouping_key(key)

            def send(
                group: CollectorRegistry = group, grouping_key: dict[str, str] = grouping_key
            ) -> None:
                push(
                    self.url,
                    job=self.settings.job,
                    registry=group,
                    grouping_key=grouping_key,
                    timeout=self.settings.timeout_seconds,
                    handler=self._handler,
                )

            try:
                self._with_retries("push to", send)
            except PushFailed as error:
                failures.append(error)
        if failures:
            raise failures[0]
        return ()

    def delete(self) -> None:
        """Remove our group (the user's labels, no autorestic section) from the gateway."""

        def send() -> None:
            delete_from_gateway(
                self.url,
                job=self.settings.job,
                grouping_key=self.grouping_key(()),
                timeout=self.settings.timeout_seconds,
                handler=self._handler,
            )

        self._with_retries("delete the group from", send)

    def grouping_key(self, section: tuple[tuple[str, str], ...]) -> dict[str, str]:
        """The grouping key (without the job) of the samples whose section labels are
        `section`."""
        return {**self.settings.grouping, **self.labels, **dict(section)}

    def _read_group(self) -> str:
        request = urllib.request.Request(f"{self.url}/metrics", method="GET")
        self._authorise(request)
        with self._opener().open(request, timeout=self.settings.timeout_seconds) as response:
            data: bytes = response.read(MAX_READ_BACK_BYTES + 1)
        if len(data) > MAX_READ_BACK_BYTES:
            raise ValueError(f"{self.url}/metrics is larger than {MAX_READ_BACK_BYTES} bytes")
        return data.decode("utf-8", errors="replace")

    def _previous(self, text: str, now: float) -> PreviousMetrics:
        """Our samples in a gateway's /metrics, with the labels the gateway adds taken off."""
        fixed = {"job": self.settings.job, **self.settings.grouping, **self.labels}
        added = set(fixed) - set(self.labels)
        last_success: dict[frozenset[tuple[str, str]], float] = {}
        label_sets: list[dict[str, str]] = []
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name not in (BACKUP_LAST_SUCCESS.name, BACKUP_SUCCESS.name):
                    continue
                if any(sample.labels.get(name, "") != value for name, value in fixed.items()):
                    continue
                labels = {k: v for k, v in sample.labels.items() if k not in added}
                if {k: v for k, v in labels.items() if k not in SECTION_LABELS} != self.labels:
                    continue  # another backup's group whose key holds ours and more
                if sample.name == BACKUP_SUCCESS.name:
                    label_sets.append(labels)
                elif 0 < sample.value <= now + CLOCK_DRIFT_SECONDS:
                    last_success[frozenset(labels.items())] = float(sample.value)
        return PreviousMetrics(last_success, tuple(label_sets))

    def _with_retries(self, what: str, action: Callable[[], _T]) -> _T:
        attempt = 0
        while True:
            try:
                return action()
            except (OSError, http.client.HTTPException, ValueError) as error:
                if attempt >= self.settings.retries or not _worth_retrying(error):
                    after = f" (after {attempt + 1} attempts)" if attempt else ""
                    reason = _describe(error, self.settings.timeout_seconds)
                    raise PushFailed(
                        self.url, f"cannot {what} {self.url}{after}: {reason}"
                    ) from error
            time.sleep(min(self.settings.backoff_seconds * 2**attempt, MAX_BACKOFF_SECONDS))
            attempt += 1

    def _handler(
        self,
        url: str,
        method: str,
        timeout: float | None,
        headers: list[tuple[str, str]],
        data: bytes,
    ) -> Callable[[], None]:
        """prometheus_client's handler interface: auth, TLS, and VictoriaMetrics's labels."""

        def handle() -> None:
            target = self._victoria_metrics_url(url) if self.is_victoria_metrics else url
            request = urllib.request.Request(target, data=data, method=method)
            for name, value in headers:
                request.add_header(name, value)
            self._authorise(request)
            with self._opener().open(request, timeout=timeout) as response:
                response.read()

        return handle

    def _authorise(self, request: urllib.request.Request) -> None:
        if self.settings.user is not None and self.settings.password is not None:
            token = f"{self.settings.user}:{self.settings.password}".encode()
            request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())

    def _opener(self) -> urllib.request.OpenerDirector:
        handlers: list[urllib.request.BaseHandler] = []
        if self._ssl_context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=self._ssl_context))
        return urllib.request.build_opener(*handlers)

    def _victoria_metrics_url(self, url: str) -> str:
        """prometheus_client's ``<import path>/metrics/job/J/NAME/VALUE...`` as VictoriaMetrics
        before 1.84 (Debian 12 has 1.79) takes it: ``?extra_label=job=J&extra_label=...``.
        Later versions take both."""
        segments = url.removeprefix(f"{self.url}/metrics/").split("/")
        extra = []
        for name, value in zip(segments[::2], segments[1::2], strict=True):
            if name.endswith("@base64"):
                text = base64.urlsafe_b64decode(value.replace("=", "") + "==").decode()
                extra.append(("extra_label", f"{name.removesuffix('@base64')}={text}"))
            else:
                extra.append(("extra_label", f"{name}={urllib.parse.unquote_plus(value)}"))
        return f"{self.url}?{urllib.parse.urlencode(extra)}"


def _ssl_context(settings: PushSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=str(settings.ca_file) if settings.ca_file is not None else None
    )
    if settings.client_cert is not None:
        key = str(settings.client_key) if settings.client_key is not None else None
        context.load_cert_chain(str(settings.client_cert), key)
    return context


def _groups(
    registry: CollectorRegistry,
) -> list[tuple[tuple[tuple[str, str], ...], CollectorRegistry]]:
    """The registry split by autorestic's section labels: one group per location and backend
    (a plain restic log is one group)."""
    families: dict[tuple[tuple[str, str], ...], list[Metric]] = {}
    for family in registry.collect():
        by_section: dict[tuple[tuple[str, str], ...], Metric] = {}
        for sample in family.samples:
            section = tuple((n, sample.labels[n]) for n in SECTION_LABELS if n in sample.labels)
            if section not in by_section:
                by_section[section] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
            by_section[section].samples.append(sample)
        for section, part in by_section.items():
            families.setdefault(section, []).append(part)
    if not families:
        return [((), metrics_registry(()))]
    return [(section, metrics_registry(parts)) for section, parts in families.items()]


def _worth_retrying(error: BaseException) -> bool:
    """A gateway down or overloaded may answer the next time; a refusal will not change."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code >= 500 or error.code == 429
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        return _worth_retrying(error.reason)
    if isinstance(error, ssl.SSLError | ValueError):
        return False
    return isinstance(error, OSError | http.client.HTTPException)


def _describe(error: BaseException, timeout: float) -> str:
    """One line that says what went wrong, in a user's terms."""
    if isinstance(error, urllib.error.HTTPError):
        body = ""
        with contextlib.suppress(OSError, AttributeError):
            body = error.read(300).decode("utf-8", "replace").strip().splitlines()[0]
        hint = {401: " (wrong --push-user or password?)", 403: " (not allowed)"}
        return f"HTTP {error.code} {error.reason}{hint.get(error.code, '')}" + (
            f": {body}" if body else ""
        )
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        return _describe(reason, timeout) if isinstance(reason, BaseException) else str(reason)
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"its TLS certificate is not trusted ({error.verify_message}); "
            "give its CA with --push-ca-file"
        )
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the gateway running?)"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name: {error.strerror}"
    if isinstance(error, OSError):
        return error.strerror or str(error) or type(error).__name__
    if isinstance(error, http.client.HTTPException):
        return f"not an HTTP answer ({type(error).__name__})"
    return str(error)


def job_push_settings(options: PushOptions, labels: Mapping[str, str]) -> PushSettings:
    """A watch job's push settings, from its ``push_*`` keys.  One retry: the next change of
    the log pushes again.  Raises as `push_settings` does."""
    return push_settings(
        labels=labels,
        job=options.job,
        user=options.user,
        password_file=options.password_file,
        ca_file=options.ca_file,
        client_cert=options.client_cert,
        client_key=options.client_key,
        timeout_seconds=options.timeout_seconds,
        retries=1,
    )
