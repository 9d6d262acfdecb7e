"""The alert rules operators rely on are unit-tested with promtool (Debian's prometheus)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "emulation.yml"
TESTS = ROOT / "deploy" / "prometheus" / "tests" / "emulation_test.yml"
ALERTS = {"ServiceDown", "ConsumerLagGrowing", "ConsumerStalled", "DeadLetterRecords",
          "KafkaProduceFailures", "ReminderFailureRateHigh", "ReminderOutcomeUnknown",
          "ReminderProviderCircuitOpen",
          "CompletenessLowBeforeDeadline", "SynthesisMilestoneAtRisk"}

promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(promtool is None,
                                    reason="promtool missing: apt-get install prometheus")


@needs_promtool
def test_promtool_rule_tests_pass() -> None:
    result = subprocess.run([str(promtool), "test", "rules", str(TESTS)],
                            capture_output=True, text=True, cwd=TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_promtool_test() -> None:
    import yaml

    rules = yaml.safe_load(RULES.read_text())
    defined = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert defined == ALERTS
    tests = yaml.safe_load(TESTS.read_text())
    tested = {case["alertname"] for t in tests["tests"] for case in t.get("alert_rule_test", [])}
    assert tested == defined
