"""Debian's Prometheus for the local stack, scraping the stack's own ports with the
alert rules of deploy/prometheus/rules/ (the same rules production loads)."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request

import yaml

from devstack.config import ROOT, StackConfig
from devstack.procs import Proc, StackError, port_open, wait_until


def prometheus_port() -> int:
    return int(os.environ.get("PROMETHEUS_PORT", 9090))


def available() -> bool:
    return shutil.which("prometheus") is not None


def install() -> None:
    """Debian's package when we may install it; the stack runs without it otherwise."""
    if available() or shutil.which("apt-get") is None or os.geteuid() != 0:
        return
    print("  installing Debian's prometheus package ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"],
                   env=env, capture_output=True)


def config(cfg: StackConfig) -> dict[str, object]:
    """The local scrape configuration, from deploy/prometheus/prometheus.local.yml with
    this stack's ports (a test stack runs on other ports than `make up`)."""
    base = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.local.yml").read_text())
    base["rule_files"] = [str(ROOT / "deploy/prometheus/rules/*.yml")]
    base["global"]["scrape_interval"] = "5s"
    base["global"]["scrape_timeout"] = "5s"  # Prometheus refuses a timeout over the interval
    jobs = []
    for job in base["scrape_configs"]:
        name = job["job_name"]
        port = cfg.service_ports.get(name, prometheus_port() if name == "prometheus" else None)
        if port is None:
            continue
        for static in job["static_configs"]:
            static["targets"] = [f"127.0.0.1:{port}"]
        jobs.append(job)
    base["scrape_configs"] = jobs
    return base


def start(cfg: StackConfig) -> str:
    p = Proc("prometheus", cfg.run, cfg.logs)
    if p.pid() is not None:
        return "already running"
    if not available():
        return "not installed (apt-get install prometheus); the stack runs without it"
    port = prometheus_port()
    if port_open(port):
        raise StackError(f"port {port} is taken by another process (set PROMETHEUS_PORT)")
    home = cfg.state / "prometheus"
    home.mkdir(parents=True, exist_ok=True)
    conf = home / "prometheus.yml"
    conf.write_text(yaml.safe_dump(config(cfg), sort_keys=False))
    p.start(["prometheus", f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{port}",
             f"--storage.tsdb.path={cfg.data / 'prometheus'}",
             "--storage.tsdb.retention.time=7d"], env=dict(os.environ), cwd=home)
    wait_until("Prometheus", lambda: _ready(port), 60, p)
    return "started"


def _ready(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as resp:
        return bool(resp.status == 200)
