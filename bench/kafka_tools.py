"""Broker headroom: Kafka's own perf tools (ProducerPerformance, ConsumerPerformance from
org.apache.kafka:kafka-tools) against the stack's broker, fetched with Maven on first use
(bench/kafka-tools/pom.xml) into .local/opt/kafka-tools-<version>/libs."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

from bench.kafka_io import auth
from bench.stack import ROOT

VERSION = "4.1.1"
TOOLS_LIBS = ROOT / ".local" / "opt" / f"kafka-tools-{VERSION}" / "libs"
BROKER_LIBS = ROOT / ".local" / "opt" / f"kafka-{VERSION}" / "libs"
TOPIC = "bench.perf.v1"


def install() -> None:
    marker = TOOLS_LIBS / ".complete"
    if marker.exists():
        return
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed to fetch Kafka's perf tools")
    TOOLS_LIBS.mkdir(parents=True, exist_ok=True)
    print(f"  fetching org.apache.kafka:kafka-tools:{VERSION} with Maven ...", flush=True)
    result = subprocess.run(
        ["mvn", "-B", "-q", "-f", str(ROOT / "bench" / "kafka-tools" / "pom.xml"), "package",
         f"-Dkafka.version={VERSION}", f"-DoutputDirectory={TOOLS_LIBS}"],
        cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0 or not any(TOOLS_LIBS.glob(f"kafka-tools-{VERSION}.jar")):
        said = (result.stdout + result.stderr)[-2000:]
        raise RuntimeError(f"fetching kafka-tools failed:\n{said}")
    marker.write_text(VERSION)


def _java(main: str, args: list[str], timeout: float) -> str:
    # The tools' folder first: its kafka-tools jar, then the broker's jars for the rest.
    classpath = f"{TOOLS_LIBS}/*:{BROKER_LIBS}/*"
    result = subprocess.run(["java", "-Xmx512m", "-cp", classpath, main, *args],
                            capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"{main} failed:\n{(result.stdout + result.stderr)[-2000:]}")
    return result.stdout


def create_topic(bootstrap: str, partitions: int = 6, name: str = TOPIC) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench",
                             **auth().kafka_python())
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(name, partitions, 1)])
        for _ in range(100):
            described = admin.describe_topics([name])
            if described and all(p.get("leader_id", -1) >= 0
                                 for p in described[0].get("partitions") or [{}]):
                return
            time.sleep(0.1)
    finally:
        admin.close()


def delete_topic(bootstrap: str, name: str = TOPIC) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench",
                             **auth().kafka_python())
    try:
        admin.delete_topics([name])
    finally:
        admin.close()


@dataclass(frozen=True)
class ProducerPerf:
    records_per_s: float
    mb_per_s: float
    p50_ms: float
    p99_ms: float


def client_config() -> str:
    """A client.properties of the benchmarks' principal for Kafka's tools (mode 0600)."""
    from devstack.kafka_security import write_private

    path = ROOT / ".local" / "opt" / f"bench-client-{os.getpid()}.properties"
    write_private(path, auth().java_properties())
    return str(path)


def producer_perf(bootstrap: str, records: int, size: int) -> ProducerPerf:
    """acks=all, the services' producer settings; the last summary line is parsed."""
    out = _java("org.apache.kafka.tools.ProducerPerformance", [
        "--producer.config", client_config(),
        "--topic", TOPIC, "--num-records", str(records), "--record-size", str(size),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}",
        "acks=all", "enable.idempotence=true", "linger.ms=5", "batch.size=262144"],
        timeout=300)
    line = [x for x in out.splitlines() if "records sent" in x][-1]
    rate = re.search(r"([\d.]+) records/sec \(([\d.]+) MB/sec\)", line)
    p50 = re.search(r"(\d+) ms 50th", line)
    p99 = re.search(r"(\d+) ms 99th", line)
    if not rate:
        raise RuntimeError(f"cannot read ProducerPerformance's summary: {line!r}")
    return ProducerPerf(float(rate.group(1)), float(rate.group(2)),
                        float(p50.group(1)) if p50 else float("nan"),
                        float(p99.group(1)) if p99 else float("nan"))


def consumer_perf(bootstrap: str, records: int) -> float:
    """Records per second over the fetch time (group join excluded)."""
    out = _java("org.apache.kafka.tools.ConsumerPerformance", [
        "--bootstrap-server", bootstrap, "--consumer.config", client_config(),
        "--topic", TOPIC, "--messages", str(records),
        "--timeout", "60000", "--group", f"bench-perf-{time.time_ns()}"], timeout=300)
    lines = [x for x in out.splitlines() if x.strip()]
    header = [h.strip() for h in lines[-2].split(",")]
    values = [v.strip() for v in lines[-1].split(",")]
    row = dict(zip(header, values, strict=False))
    return float(row.get("fetch.nMsg.sec") or row["nMsg.sec"])
