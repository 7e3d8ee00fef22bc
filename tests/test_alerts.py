"""The alerting rules, unit-tested by the real `promtool test rules` (tests/rules/), and the
assets command that hands them and the dashboard to a user who installed from a wheel."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import require_program
from typer.testing import CliRunner

from exporter.cli import app

ASSETS = Path(__file__).parent.parent / "exporter" / "assets"
RULES = ASSETS / "restic-alerts.rules.yml"
RULE_TESTS = Path(__file__).parent / "rules" / "restic-alerts.test.yml"


def test_rules_pass_promtool_check() -> None:
    result = subprocess.run(
        [require_program("promtool"), "check", "rules", RULES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_unit_tests_pass(tmp_path: Path) -> None:
    tests = tmp_path / "restic-alerts.test.yml"
    tests.write_text(RULE_TESTS.read_text().replace("[RULES]", f"['{RULES}']"))
    result = subprocess.run(
        [require_program("promtool"), "test", "rules", tests],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_rule_tests_cover_every_alert() -> None:
    alerts = {
        line.split(":", 1)[1].strip()
        for line in RULES.read_text().splitlines()
        if line.strip().startswith("- alert:")
    }
    tested = RULE_TESTS.read_text()
    assert len(alerts) == 10
    for alert in alerts:
        assert f"alertname: {alert}\n" in tested, f"{alert} is never shown to fire"
        assert f"alertname: {alert}, exp_alerts: []" in tested, f"{alert} is never shown quiet"


def test_assets_command_prints_what_ships() -> None:
    runner = CliRunner()
    rules = runner.invoke(app, ["assets", "rules"])
    assert rules.exit_code == 0 and rules.stdout == RULES.read_text()
    dashboard = runner.invoke(app, ["assets", "dashboard"])
    assert dashboard.exit_code == 0
    assert json.loads(dashboard.stdout)["uid"] == "restic-textfile-exporter"
    assert runner.invoke(app, ["assets", "nope"]).exit_code == 2
