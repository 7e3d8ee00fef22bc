"""Real servers (node_exporter, Prometheus, the Pushgateway, VictoriaMetrics) on loopback ports
chosen here, waited for until they answer, and stopped when the test ends."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(
    url: str,
    timeout: float = 5.0,
    context: ssl.SSLContext | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """The body of `url`; `context` and `headers` for a server behind TLS and basic auth."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        body: bytes = response.read()
    return body.decode()


@contextlib.contextmanager
def running(
    command: list[str],
    ready_url: str,
    log: Path,
    timeout: float = 30.0,
    context: ssl.SSLContext | None = None,
    headers: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """Run `command` until the block ends; it is ready once `ready_url` answers 200 (asked with
    `context` and `headers`, as `http_get`)."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited early:\n{log.read_text()}")
                try:
                    http_get(ready_url, timeout=1, context=context, headers=headers)
                    break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{command[0]} not ready:\n{log.read_text()}") from None
                    time.sleep(0.05)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
