"""The last mile, with the real programs: a real restic backup fails, the hook (`parse
--exit-code`) writes the file, the real node_exporter serves it, the real Prometheus fires
ResticBackupFailed from our rules, and the real Alertmanager, with the route the README shows,
sends exactly one notification naming the host and the backup to a webhook here; after a good
backup, the resolved notification arrives."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import require_program
from restic_runs import PASSWORD
from servers import WebhookReceiver, free_port, http_get, running, webhook_receiver

ROOT = Path(__file__).parent.parent
RULES = ROOT / "exporter" / "assets" / "restic-alerts.rules.yml"
BIN = Path(sys.executable).parent / "restic-textfile-exporter"
HOST = "db1.example.net"
BACKUP = "home"


def readme_route(webhook_url: str) -> str:
    """The README's Alertmanager example, sped up (1 s instead of 30 s and 5 m), sending to
    `webhook_url`; its repeat_interval (12 h) stays, so a second notification is a bug."""
    readme = (ROOT / "README.md").read_text()
    config = next(
        block
        for block in re.findall(r"```yaml\n(.+?)```", readme, flags=re.DOTALL)
        if block.startswith("route:")
    )
    config = re.sub(r"group_wait: \S+", "group_wait: 1s", config)
    config = re.sub(r"group_interval: \S+", "group_interval: 1s", config)
    config, replaced = re.subn(r"url: \S+", f"url: {webhook_url}/restic", config)
    assert replaced == 1 and "repeat_interval: 12h" in config, config
    return config


@dataclass
class Stack:
    base: Path
    prometheus: str
    webhook: WebhookReceiver

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?query={urllib.parse.quote(expr)}"
        answer = json.loads(http_get(url))
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_until(self, expr: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.query(expr):
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr} still empty after {timeout} s")
            time.sleep(0.2)

    def backup(self, password: str) -> int:
        """`restic backup >>log`, then the hook with restic's exit code, as a cron line runs it."""
        log = self.base / "backup.log"
        environment = {
            **os.environ,
            "RESTIC_REPOSITORY": str(self.base / "repo"),
            "RESTIC_PASSWORD": password,
            "RESTIC_CACHE_DIR": str(self.base / "cache"),
        }
        with log.open("ab") as out:
            code = subprocess.run(
                [require_program("restic"), "backup", str(self.base / "src")],
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            ).returncode
        output = self.base / "textfile" / "restic-home.prom"
        hook: list[str | Path] = [
            BIN,
            "parse",
            log,
            "--exit-code",
            str(code),
            "-o",
            output,
            "-l",
            f"backup={BACKUP}",
        ]
        subprocess.run(hook, check=True, capture_output=True, timeout=60)
        return code


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    (tmp_path / "textfile").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "data.bin").write_bytes(os.urandom(4096))
    subprocess.run(
        [require_program("restic"), "init", "--quiet"],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "RESTIC_REPOSITORY": str(tmp_path / "repo"),
            "RESTIC_PASSWORD": PASSWORD,
        },
        timeout=120,
    )
    node_port, prometheus_port, alertmanager_port = free_port(), free_port(), free_port()
    alertmanager_url = f"http://127.0.0.1:{alertmanager_port}"
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES}']\n"
        "alerting:\n"
        f"  alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{alertmanager_port}']}}]}}]\n"
        "scrape_configs:\n"
        "  - job_name: node\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{node_port}']}}]\n"
        # the host's name, as a real scrape of db1.example.net:9100 would call it
        f"    relabel_configs: [{{target_label: instance, replacement: '{HOST}'}}]\n"
    )
    node_exporter = [
        require_program("prometheus-node-exporter"),
        f"--web.listen-address=127.0.0.1:{node_port}",
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={tmp_path / 'textfile'}",
    ]
    prometheus = [
        require_program("prometheus"),
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
    ]
    prometheus_url = f"http://127.0.0.1:{prometheus_port}"
    with webhook_receiver() as webhook:
        (tmp_path / "alertmanager.yml").write_text(readme_route(webhook.url))
        alertmanager = [
            require_program("prometheus-alertmanager"),
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{alertmanager_port}",
            "--cluster.listen-address=",
        ]
        with (
            running(alertmanager, f"{alertmanager_url}/-/ready", tmp_path / "alertmanager.log"),
            running(node_exporter, f"http://127.0.0.1:{node_port}/metrics", tmp_path / "node.log"),
            running(prometheus, f"{prometheus_url}/-/ready", tmp_path / "prometheus.log", 60),
        ):
            yield Stack(tmp_path, prometheus_url, webhook)


def test_a_failed_backup_notifies_once_and_its_fix_resolves(stack: Stack) -> None:
    assert stack.backup(PASSWORD) == 0
    stack.wait_until(f'restic_backup_success{{backup="{BACKUP}"}} == 1')

    assert stack.backup("wrong password") == 1
    firing = stack.webhook.wait_for(lambda received: len(received) >= 1)
    assert stack.webhook.received == firing

    assert stack.backup(PASSWORD) == 0
    received = stack.webhook.wait_for(
        lambda received: any(message["status"] == "resolved" for message in received)
    )
    # One notification that it failed, one that it is fixed; nothing else on the way.
    assert [message["status"] for message in received] == ["firing", "resolved"]
    for message in received:
        assert message["receiver"] == "backups"
        [alert] = message["alerts"]
        assert alert["labels"]["alertname"] == "ResticBackupFailed"
        assert alert["labels"]["instance"] == HOST
        assert alert["labels"]["backup"] == BACKUP
        assert alert["labels"]["severity"] == "critical"
        assert HOST in alert["annotations"]["summary"]
        assert BACKUP in alert["annotations"]["summary"]
    assert received[0]["alerts"][0]["status"] == "firing"
    assert received[1]["alerts"][0]["status"] == "resolved"
