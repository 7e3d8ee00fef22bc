"""healthchecks.io-style pings: ``URL/start`` when a run starts, ``URL`` when it succeeded,
``URL/<exit code>`` (or ``URL/fail``) when it failed, each with ``?rid=<run id>`` so that the
server pairs a start with its end, and the tail of the output as the body.

The protocol is plain HTTP (healthchecks.io, its self-hosted servers, and Uptime Kuma's push
monitors speak it).  A ping that fails is retried a bounded number of times with a growing pause;
it never changes the exit code of what it reports on.  Only the standard library is used.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field

MAX_BODY_BYTES = 100_000
"""healthchecks.io keeps the first 100 kB of a ping's body: the tail of the output is sent."""
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_ATTEMPTS = 3


class PingFailed(Exception):
    """One line naming the URL and why."""


@dataclass(frozen=True)
class Pinger:
    url: str
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    attempts: int = DEFAULT_ATTEMPTS
    backoff_seconds: float = 1.0

    def start(self) -> None:
        self._send("start", b"")

    def finish(self, exit_code: int, output_tail: bytes = b"") -> None:
        """Success for 0, else the exit code itself (healthchecks.io counts any non-zero as
        a failure and shows the code)."""
        self._send("" if exit_code == 0 else str(exit_code), output_tail[-MAX_BODY_BYTES:])

    def fail(self, output_tail: bytes = b"") -> None:
        self._send("fail", output_tail[-MAX_BODY_BYTES:])

    def _send(self, suffix: str, body: bytes) -> None:
        try:
            url = ping_url(self.url, suffix, self.run_id)
        except ValueError as error:
            raise PingFailed(f"ping {_shown(self.url)}: {error}") from None
        reason = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                request = urllib.request.Request(url, data=body, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                    response.read(1024)
                return
            except urllib.error.HTTPError as error:
                reason = f"HTTP {error.code} {error.reason}"
                if 400 <= error.code < 500 and error.code != 429:
                    break  # a wrong URL stays wrong
            except (urllib.error.URLError, OSError, ValueError) as error:
                reason = str(getattr(error, "reason", error))
        raise PingFailed(f"ping {_shown(url)} failed after {attempt + 1} attempt(s): {reason}")


def check_ping_url(url: str) -> None:
    """Raises ValueError saying what is wrong with `url` as a ping URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError as error:
        raise ValueError(f"{url!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL")


def ping_url(base: str, suffix: str, run_id: str) -> str:
    """``https://hc-ping.com/UUID`` + ``/start`` + ``?rid=...`` (a query already in `base` is
    kept)."""
    parts = urllib.parse.urlsplit(base)
    path = parts.path.rstrip("/") + (f"/{suffix}" if suffix else "")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query.append(("rid", run_id))
    return urllib.parse.urlunsplit(parts._replace(path=path, query=urllib.parse.urlencode(query)))


def _shown(url: str) -> str:
    """The URL without a password, if it holds one."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018
    except ValueError:
        return repr(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
