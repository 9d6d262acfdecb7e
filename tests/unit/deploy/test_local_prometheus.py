"""The Prometheus configuration `make up` generates for its own ports is valid."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from devstack import prometheus
from devstack.config import StackConfig


def test_generated_config_scrapes_this_stacks_ports_and_passes_promtool(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORING_PORT", "28002")
    monkeypatch.setenv("PROMETHEUS_PORT", "28090")
    conf = prometheus.config(StackConfig.from_env())
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in conf["scrape_configs"]}
    assert targets["scoring"] == ["127.0.0.1:28002"]
    assert targets["prometheus"] == ["127.0.0.1:28090"]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(conf))
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing: apt-get install prometheus")
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
