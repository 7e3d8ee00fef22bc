"""What we write and the rules we ship also pass with the newer releases: Prometheus 3 (its
promtool, and the server itself) and node_exporter 1.11, Debian sid's packages, which
`.ci/fetch-prometheus` puts in the user's cache.  bookworm's Prometheus 2.42 and node_exporter
1.5 are checked by the other tests."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
from conftest import FIXTURES
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port, http_get, running
from typer.testing import CliRunner

from exporter.cli import app

CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "restic-textfile-exporter"
    / "sid"
)
ASSETS = Path(__file__).parent.parent / "exporter" / "assets"
RULES = ASSETS / "restic-alerts.rules.yml"
RULE_TESTS = Path(__file__).parent / "rules" / "restic-alerts.test.yml"
GOLDENS = sorted(FIXTURES.rglob("*.expected.prom"))
ALERTS = sum(line.strip().startswith("- alert:") for line in RULES.read_text().splitlines())


def sid_program(package: str, series: str, program: str) -> Path:
    """`program` from sid's `package` of `series`; missing, the test fails (never skips)."""
    found = sorted(CACHE.glob(f"{package}/{series}*/{program}"))
    if not found:
        pytest.fail(f"{program} {series}x is not in {CACHE}/{package}: run .ci/fetch-prometheus")
    return found[-1]


def promtool() -> Path:
    return sid_program("promtool", "3.", "promtool")


def test_the_fetched_programs_are_the_newer_releases() -> None:
    versions = {
        "prometheus": sid_program("prometheus", "3.", "prometheus"),
        "promtool": promtool(),
        "node_exporter": sid_program(
            "prometheus-node-exporter", "1.11.", "prometheus-node-exporter"
        ),
    }
    for name, program in versions.items():
        output = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=30, check=True
        )
        first = (output.stdout + output.stderr).splitlines()[0]
        series = "1.11." if name == "node_exporter" else "3."
        assert first.startswith(f"{name}, version {series}"), first


def test_there_are_goldens_to_check() -> None:
    assert len(GOLDENS) >= 40


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_every_golden_passes_promtool_3_check_metrics(golden: Path) -> None:
    result = subprocess.run(
        [promtool(), "check", "metrics"],
        input=golden.read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout and not result.stderr, (
        result.stdout.decode() + result.stderr.decode()
    )


def test_rules_pass_promtool_3_check_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", RULES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and f"SUCCESS: {ALERTS} rules found" in result.stdout, (
        result.stdout + result.stderr
    )


def test_rule_unit_tests_pass_promtool_3(tmp_path: Path) -> None:
    tests = tmp_path / "restic-alerts.test.yml"
    tests.write_text(RULE_TESTS.read_text().replace("[RULES]", f"['{RULES}']"))
    result = subprocess.run(
        [promtool(), "test", "rules", tests],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_node_exporter_1_11_and_prometheus_3_read_our_files(tmp_path: Path) -> None:
    """Three jobs' files (one with a hostile label value) in one textfile directory: node_exporter
    1.11 serves them without a scrape error, Prometheus 3 scrapes them and loads our rules."""
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    jobs = {
        "home": FIXTURES / "restic-0.14" / "backup1.log",
        "etc": FIXTURES / "restic-0.14" / "fatal_pw.log",
        'we"ird\\job\nname': FIXTURES / "versions" / "v0.18.0-partial.json",
    }
    for index, (job, log) in enumerate(jobs.items()):
        result = CliRunner().invoke(
            app,
            ["parse", str(log), "-o", str(textfiles / f"job{index}.prom"), "-l", f"backup={job}"],
        )
        assert result.exit_code == 0, result.output

    node_port, prometheus_port = free_port(), free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        f"  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{node_port}']}}]\n"
    )
    node_exporter = [
        str(sid_program("prometheus-node-exporter", "1.11.", "prometheus-node-exporter")),
        f"--web.listen-address=127.0.0.1:{node_port}",
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={textfiles}",
    ]
    prometheus = [
        str(sid_program("prometheus", "3.", "prometheus")),
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
    ]
    url = f"http://127.0.0.1:{prometheus_port}"
    node_url = f"http://127.0.0.1:{node_port}/metrics"
    with (
        running(node_exporter, node_url, tmp_path / "node_exporter.log"),
        running(prometheus, f"{url}/-/ready", tmp_path / "prometheus.log", timeout=60),
    ):
        scraped = http_get(node_url)
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(scraped)
            for sample in family.samples
        }
        assert samples[("node_textfile_scrape_error", ())] == 0.0
        success = {
            dict(labels)["backup"]: value
            for (name, labels), value in samples.items()
            if name == "restic_backup_success"
        }
        assert success == {"home": 1.0, "etc": 0.0, 'we"ird\\job\nname': 0.0}

        query = urllib.parse.quote("restic_backup_success")
        deadline = time.monotonic() + 30
        while True:
            answer = json.loads(http_get(f"{url}/api/v1/query?query={query}"))
            stored = {s["metric"]["backup"]: s["value"][1] for s in answer["data"]["result"]}
            if len(stored) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert stored == {"home": "1", "etc": "0", 'we"ird\\job\nname': "0"}

        deadline = time.monotonic() + 30
        while True:
            groups = json.loads(http_get(f"{url}/api/v1/rules"))["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            evaluated = all(rule.get("lastEvaluation", "0001").startswith("20") for rule in rules)
            if (rules and evaluated) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(rules) == ALERTS
        assert all(rule["health"] == "ok" for rule in rules), rules
