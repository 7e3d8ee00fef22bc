"""Real servers (node_exporter, Prometheus, Alertmanager, the Pushgateway, VictoriaMetrics) on
loopback ports chosen here, waited for until they answer, and stopped when the test ends; and a
webhook receiver that records what Alertmanager sends it."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any


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


class WebhookReceiver:
    """An HTTP server on a loopback port that records the JSON body of every POST, as an
    Alertmanager webhook receiver would get them; `wait_for` waits on what has arrived."""

    def __init__(self) -> None:
        self._arrived = threading.Condition()
        self._received: list[dict[str, Any]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                self.send_response(200)
                self.end_headers()
                with receiver._arrived:
                    receiver._received.append(body)
                    receiver._arrived.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: pytest shows what the test asserts on."""

        # One request at a time (Alertmanager sends a group's notifications in turn), so no
        # handler thread outlives the server.
        self._server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def received(self) -> list[dict[str, Any]]:
        with self._arrived:
            return list(self._received)

    def wait_for(
        self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Everything received, once `condition` holds for it; TimeoutError if it never does."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: condition(self._received), timeout=timeout):
                raise TimeoutError(f"still waiting after {timeout} s; received {self._received}")
            return list(self._received)


@contextlib.contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A `WebhookReceiver` serving until the block ends."""
    receiver = WebhookReceiver()
    thread = threading.Thread(target=receiver._server.serve_forever, name="webhook-receiver")
    thread.start()
    try:
        yield receiver
    finally:
        receiver._server.shutdown()
        receiver._server.server_close()
        thread.join()
