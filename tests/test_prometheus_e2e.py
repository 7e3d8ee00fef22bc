"""The whole path with the real programs: a real restic backup, the exporter run as systemd's
ExecStopPost= hook would run it, the real node_exporter reading the textfile directory, the real
Prometheus scraping it and evaluating our alerting rules; then every query of our Grafana
dashboard, run against that Prometheus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_program
from restic_runs import PASSWORD
from servers import free_port, http_get, running

ASSETS = Path(__file__).parent.parent / "exporter" / "assets"
BIN = Path(sys.executable).parent / "restic-textfile-exporter"


class Stack:
    def __init__(self, base: Path, prometheus_url: str) -> None:
        self.base = base
        self.url = prometheus_url
        self.textfiles = base / "textfile"
        self.repository = base / "repo"

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = json.loads(http_get(f"{self.url}/api/v1/query?query={urllib.parse.quote(expr)}"))
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_until(self, expr: str, present: bool = True, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while bool(self.query(expr)) != present:
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr} still {'empty' if present else 'not empty'}")
            time.sleep(0.5)

    def backup(self, password: str = PASSWORD) -> None:
        """restic backup, then the hook as ExecStopPost= runs it: with $EXIT_STATUS."""
        log = self.base / "backup.log"
        env = {
            **os.environ,
            "RESTIC_REPOSITORY": str(self.repository),
            "RESTIC_PASSWORD": password,
            "RESTIC_CACHE_DIR": str(self.base / "cache"),
        }
        with log.open("wb") as out:
            code = subprocess.run(
                ["restic", "backup", str(self.base / "src")],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=120,
            ).returncode
        hook_env = {**os.environ, "EXIT_CODE": "exited", "EXIT_STATUS": str(code)}
        subprocess.run(
            [BIN, "parse", log, "-o", self.textfiles / "restic-e2e.prom", "-l", "backup=e2e"],
            env=hook_env,
            check=True,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    (base / "textfile").mkdir()
    (base / "src").mkdir()
    (base / "src" / "data.bin").write_bytes(os.urandom(4096))
    subprocess.run(
        [require_program("restic"), "init", "--quiet"],
        check=True,
        capture_output=True,
        env={**os.environ, "RESTIC_REPOSITORY": str(base / "repo"), "RESTIC_PASSWORD": PASSWORD},
        timeout=120,
    )
    node_port, prometheus_port = free_port(), free_port()
    (base / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{ASSETS / 'restic-alerts.rules.yml'}']\n"
        "scrape_configs:\n"
        f"  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{node_port}']}}]\n"
    )
    node_exporter = [
        require_program("prometheus-node-exporter"),
        f"--web.listen-address=127.0.0.1:{node_port}",
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={base / 'textfile'}",
    ]
    prometheus = [
        require_program("prometheus"),
        f"--config.file={base / 'prometheus.yml'}",
        f"--storage.tsdb.path={base / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
    ]
    url = f"http://127.0.0.1:{prometheus_port}"
    with (
        running(node_exporter, f"http://127.0.0.1:{node_port}/metrics", base / "node.log"),
        running(prometheus, f"{url}/-/ready", base / "prometheus.log", timeout=60),
    ):
        yield Stack(base, url)


def test_rules_load_healthy(stack: Stack) -> None:
    groups = json.loads(http_get(f"{stack.url}/api/v1/rules"))["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    shipped = (Path(__file__).parent.parent / "exporter/assets/restic-alerts.rules.yml").read_text()
    assert len(rules) == shipped.count("- alert:") >= 10
    stack.wait_until('ALERTS{alertname="ResticBackupFailed"}', present=False)
    time.sleep(2)
    rules = [
        r
        for g in json.loads(http_get(f"{stack.url}/api/v1/rules"))["data"]["groups"]
        for r in g["rules"]
    ]
    assert all(rule["health"] == "ok" for rule in rules), rules


def test_a_failed_backup_fires_and_a_good_one_clears_the_alert(stack: Stack) -> None:
    stack.backup()
    stack.wait_until('restic_backup_success{backup="e2e"} == 1')
    assert not stack.query('ALERTS{alertname="ResticBackupFailed"}')
    stack.backup(password="wrong")
    stack.wait_until('restic_backup_success{backup="e2e"} == 0')
    stack.wait_until('ALERTS{alertname="ResticBackupFailed",alertstate="firing",backup="e2e"}')
    assert stack.query('restic_backup_exit_code{backup="e2e"}')[0]["value"][1] == "1"
    stack.backup()
    stack.wait_until('ALERTS{alertname="ResticBackupFailed"}', present=False)
    # and none of the alerts that must stay quiet was pending or firing at any time on the way
    for quiet in (
        "ResticBackupPartial",
        "ResticExporterParseFailed",
        "ResticMetricsFileStale",
        "ResticBackupRunningTooLong",
        "ResticCheckFailed",
        "ResticBackupTooOld",
    ):
        assert not stack.query(f'count_over_time(ALERTS{{alertname="{quiet}"}}[10m])'), quiet


def _dashboard_queries() -> list[str]:
    dashboard = json.loads((ASSETS / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.mark.parametrize("expr", _dashboard_queries())
def test_every_dashboard_query_returns_data(stack: Stack, expr: str) -> None:
    if not stack.query('restic_backup_success{backup="e2e"}'):
        stack.backup()
    stack.wait_until('restic_backup_success{backup="e2e"}')
    result = stack.query(expr.replace("$instance", ".*"))
    assert result, f"no data for {expr}"
