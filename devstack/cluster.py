"""A three-broker Kafka cluster on loopback, for the scale-out proofs (tests/faults/):
KRaft, every node both broker and controller (node ids 1, 2, 3, one static quorum),
replication factor 3 and min.insync.replicas 2 by default, like the production shape in
docker-compose.yml. Node n listens on <base> + 100 n + 92 (broker) and + 93 (controller).

    python -m devstack.cluster up|down|status [--base 29000] [--state .local/cluster]

Built from the same jars and helpers as the single broker of devstack/parts.py, with the
same authentication and ACLs (devstack/kafka_security.py; a cluster beside a stack uses
that stack's passwords, so its services and tests connect as they do to the stack); every
process has its pid file, and only those processes are ever stopped."""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devstack import kafka_security
from devstack.config import ROOT, StackConfig
from devstack.parts import LOG4J2
from devstack.procs import Proc, StackError, port_open
from services.common.kafka_auth import KafkaAuth

NODES = (1, 2, 3)


@dataclass(frozen=True)
class KafkaCluster:
    """The cluster's state folder (per node: config, data, log) and its ports."""

    state: Path
    base_port: int
    kafka_libs: Path
    # The principals' passwords (devstack/kafka_security.py); None: <state>/kafka-secrets.json.
    secrets: Path | None = None
    nodes: tuple[int, ...] = NODES
    heap: str = "-Xmx384m"
    # A killed broker is fenced (and leaves the ISRs) after this long without heartbeats.
    session_timeout_ms: int = 6000
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def beside(cls, cfg: StackConfig, base_port: int) -> KafkaCluster:
        """A cluster under the stack's state folder, using the stack's Kafka jars."""
        return cls(state=cfg.state / "cluster", base_port=base_port, kafka_libs=cfg.kafka_libs,
                   secrets=cfg.kafka_secrets)

    @property
    def secrets_file(self) -> Path:
        return self.secrets or self.state / "kafka-secrets.json"

    def passwords(self) -> dict[str, str]:
        return kafka_security.ensure_secrets(self.secrets_file)

    def admin_auth(self) -> KafkaAuth:
        return kafka_security.client_auth(self.secrets_file)

    def broker_port(self, node: int) -> int:
        return self.base_port + 100 * node + 92

    def controller_port(self, node: int) -> int:
        return self.base_port + 100 * node + 93

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.broker_port(n)}" for n in self.nodes)

    def proc(self, node: int) -> Proc:
        return Proc(f"kafka-node-{node}", self.state / "run", self.state / "logs")

    def node_dir(self, node: int) -> Path:
        return self.state / f"node-{node}"

    def properties(self, node: int) -> str:
        voters = ",".join(f"{n}@127.0.0.1:{self.controller_port(n)}" for n in self.nodes)
        b, c = self.broker_port(node), self.controller_port(node)
        rf = len(self.nodes)
        isr = min(2, rf)
        listener = kafka_security.LISTENER
        settings = {
            "process.roles": "broker,controller", "node.id": str(node),
            "controller.quorum.voters": voters,
            "listeners": f"{listener}://127.0.0.1:{b},CONTROLLER://127.0.0.1:{c}",
            "advertised.listeners": f"{listener}://127.0.0.1:{b}",
            "controller.listener.names": "CONTROLLER",
            **kafka_security.broker_settings(self.passwords()),
            "log.dirs": str(self.node_dir(node) / "data"),
            "num.partitions": "6", "auto.create.topics.enable": "false",
            "default.replication.factor": str(rf), "min.insync.replicas": str(isr),
            "offsets.topic.replication.factor": str(rf), "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(isr),
            "share.coordinator.state.topic.replication.factor": str(rf),
            "share.coordinator.state.topic.min.isr": str(isr),
            "unclean.leader.election.enable": "false",
            "group.initial.rebalance.delay.ms": "0", "log.retention.hours": "-1",
            "broker.session.timeout.ms": str(self.session_timeout_ms),
            "broker.heartbeat.interval.ms": str(max(500, self.session_timeout_ms // 6)),
            "replica.lag.time.max.ms": "10000",
            **self.extra,
        }
        return "\n".join(f"{k}={v}" for k, v in settings.items()) + "\n"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> None:
        """Format what is new, start every node not running (a quorum needs two of the
        three, so they start together), and wait until all brokers are unfenced."""
        cluster_id = self._cluster_id()
        self._format([n for n in self.nodes if self.proc(n).pid() is None], cluster_id)
        started = [n for n in self.nodes if self._launch(n)]
        if started:
            self.wait_ready(timeout)
            self.secure()

    def secure(self) -> None:
        """Every principal's SCRAM user and ACLs, as on the single broker."""
        from services.common.kafka_acls import apply_acls

        apply_acls(self.bootstrap, self.admin_auth(),
                   kafka_security.scram_users(self.passwords()))

    def start_node(self, node: int, timeout: float = 120.0) -> None:
        """Restart one node on its existing data, and wait until it is a live broker again."""
        self._format([node], self._cluster_id())
        if self._launch(node):
            self.wait_ready(timeout)

    def stop_node(self, node: int, *, kill: bool = False) -> bool:
        """SIGTERM (a controlled shutdown) or, with `kill`, SIGKILL; False if not running."""
        p = self.proc(node)
        if kill:
            running = p.pid() is not None
            p.kill9()
            return running
        return p.stop(timeout=60)

    def stop(self, timeout: float = 30.0) -> list[int]:
        """Stop every node this cluster started, together (one by one, the last ones would
        wait for a quorum that is gone); returns the node ids that were running."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            stopped = list(pool.map(lambda n: self.proc(n).stop(timeout=timeout), self.nodes))
        return [n for n, was in zip(self.nodes, stopped, strict=True) if was]

    def running(self) -> list[int]:
        return [n for n in self.nodes if self.proc(n).pid() is not None]

    def wait_ready(self, timeout: float) -> None:
        """Every running node is an unfenced broker in the cluster's metadata."""
        deadline = time.monotonic() + timeout
        want = set(self.running())
        last: object = None
        while time.monotonic() < deadline:
            for n in want:
                if self.proc(n).pid() is None:
                    raise StackError(f"Kafka node {n} exited; see {self.proc(n).log}:\n"
                                     f"{self.proc(n).tail()}")
            try:
                live = self.live_brokers()
                if want <= live:
                    return
                last = live
            except Exception as exc:
                last = exc
            time.sleep(0.5)
        raise StackError(f"Kafka nodes {sorted(want)} not all live after {timeout:.0f}s "
                         f"(last: {last!r}); logs in {self.state / 'logs'}")

    def live_brokers(self) -> set[int]:
        """Node ids of the unfenced brokers, as the cluster's metadata lists them."""
        from kafka.admin import KafkaAdminClient

        up = [f"127.0.0.1:{self.broker_port(n)}" for n in self.running()
              if port_open(self.broker_port(n))]
        if not up:
            return set()
        admin = KafkaAdminClient(bootstrap_servers=up, request_timeout_ms=5000,
                                 client_id="devstack-cluster", **self.admin_auth().kafka_python())
        try:
            brokers = admin.describe_cluster().get("brokers", [])
            return {int(b["broker_id"]) for b in brokers if not b.get("is_fenced", False)}
        finally:
            admin.close()

    # -- internals ------------------------------------------------------------------------

    def _java(self) -> list[str]:
        return ["java", "-XX:TieredStopAtLevel=1", "-cp", f"{self.kafka_libs}/*"]

    def _cluster_id(self) -> str:
        """One id for every node, kept in the state folder (a node's data is bound to it)."""
        path = self.state / "cluster-id"
        if path.exists():
            return path.read_text().strip()
        self.state.mkdir(parents=True, exist_ok=True)
        cluster_id = random_cluster_id()
        path.write_text(cluster_id)
        return cluster_id

    def _format(self, nodes: list[int], cluster_id: str) -> None:
        """Write each node's configuration; format the new ones, all at once (a JVM each)."""
        formatting: dict[int, subprocess.Popen[str]] = {}
        for node in nodes:
            home = self.node_dir(node)
            home.mkdir(parents=True, exist_ok=True)
            kafka_security.write_private(home / "server.properties", self.properties(node))
            (home / "log4j2.yaml").write_text(LOG4J2)
            if not (home / "data" / "meta.properties").exists():
                # A static quorum (controller.quorum.voters): formatted without --standalone.
                formatting[node] = subprocess.Popen(
                    [*self._java(), "kafka.tools.StorageTool", "format", "-t", cluster_id,
                     "-c", str(home / "server.properties"),
                     *kafka_security.format_args(self.passwords())],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for node, run in formatting.items():
            out, _ = run.communicate(timeout=120)
            if run.returncode != 0:
                raise StackError(f"formatting Kafka node {node} failed:\n{out}")

    def _launch(self, node: int) -> bool:
        p = self.proc(node)
        if p.pid() is not None:
            return False
        for port in (self.broker_port(node), self.controller_port(node)):
            if port_open(port):
                raise StackError(f"port {port} of Kafka node {node} is taken by another process")
        home = self.node_dir(node)
        props = home / "server.properties"
        # C1 only: three JVMs warming up on a small machine start much sooner without C2.
        p.start(["java", "-Xms128m", self.heap, "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
                 f"-Dkafka.logs.dir={self.state / 'logs' / f'node-{node}'}",
                 f"-Dlog4j2.configurationFile={home / 'log4j2.yaml'}",
                 "-cp", f"{self.kafka_libs}/*", "kafka.Kafka", str(props)],
                env=dict(os.environ), cwd=home)
        # Readiness is waited for across nodes (wait_ready): metadata needs a quorum.
        return True


def random_cluster_id() -> str:
    """What `StorageTool random-uuid` prints (a UUID in URL-safe base64, never starting
    with '-'), without starting a JVM for it."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--base", type=int, default=int(os.environ.get("CLUSTER_PORT_BASE",
                                                                       29000)))
    parser.add_argument("--state", type=Path, default=ROOT / ".local" / "cluster")
    args = parser.parse_args(argv)
    cluster = KafkaCluster(state=args.state.resolve(), base_port=args.base,
                           kafka_libs=StackConfig.from_env().kafka_libs)
    try:
        if args.command == "up":
            cluster.start()
            print(f"three brokers at {cluster.bootstrap}")
        elif args.command == "down":
            print(f"stopped nodes: {cluster.stop() or 'none were running'}")
        else:
            running = cluster.running()
            print(f"running nodes: {running or 'none'}; bootstrap {cluster.bootstrap}")
            return 0 if len(running) == len(cluster.nodes) else 3
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
