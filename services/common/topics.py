"""The platform's Kafka topics (CONTRACT.md) and a command that creates them.

    python -m services.common.topics --bootstrap 127.0.0.1:9092 --replication 1

as the admin principal (EMULATION_KAFKA_USERNAME / EMULATION_KAFKA_PASSWORD): on a broker
with ACLs only a super user may create topics.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.common.kafka_auth import KafkaAuth

UNITS = "emulation.units.v1"
SUBMISSION_REQUESTS = "emulation.submission-requests.v1"
SUBMISSION_REQUESTS_DLQ = "emulation.submission-requests.dlq.v1"
SUBMISSIONS = "emulation.submissions.v1"
SCORES = "emulation.scores.v1"
NOTIFICATIONS = "emulation.notifications.v1"
# Records the internal consumers could not process, with the reason (beyond CONTRACT.md).
DEAD_LETTERS = "emulation.dead-letters.v1"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6
    config: dict[str, str] = field(default_factory=dict)


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(UNITS, config={"cleanup.policy": "compact"}),
    # The broker stamps each request with the time it appended it: the intake judges
    # timeliness by it (docs/adr/0005), and a producer cannot set it.
    TopicSpec(SUBMISSION_REQUESTS, config={"message.timestamp.type": "LogAppendTime"}),
    TopicSpec(SUBMISSION_REQUESTS_DLQ),
    TopicSpec(SUBMISSIONS),
    TopicSpec(SCORES),
    TopicSpec(NOTIFICATIONS),
    TopicSpec(DEAD_LETTERS),
)


def ensure_topics(bootstrap: str, replication: int, timeout: float = 60.0,
                  auth: KafkaAuth | None = None) -> list[str]:
    """Create the missing topics and give the present ones the settings of their spec
    (only those keys: whatever operators set besides stays); return the names created.
    Safe to call again."""
    from kafka.admin import ConfigResource, KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="topics",
                             **(auth.kafka_python() if auth else {}))
    try:
        existing = set(admin.list_topics())
        wanted = [t for t in TOPICS if t.name not in existing]
        created: list[str] = []
        for spec in wanted:
            config = dict(spec.config)
            if replication > 1:
                config.setdefault("min.insync.replicas", str(min(2, replication)))
            try:
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, replication, topic_configs=config)]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        # Topics made by an older version (or by hand) get their spec's settings: an
        # incremental change of those keys only.
        present = [ConfigResource("TOPIC", t.name, configs=dict(t.config))
                   for t in TOPICS if t.name in existing and t.config]
        if present:
            results = admin.alter_configs(present)
            failed = {name: result for name, result in results.get("topic", {}).items()
                      if result != "OK"}
            if failed:
                raise RuntimeError(f"cannot set the topics' settings: {failed}")
        _wait_for_leaders(admin, [t.name for t in TOPICS], timeout)
        return created
    finally:
        admin.close()


def _wait_for_leaders(admin: object, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        described = admin.describe_topics(names)  # type: ignore[attr-defined]
        ready = all(
            t.get("error_code", 0) == 0
            and t.get("partitions")
            and all(p.get("leader_id", -1) >= 0 for p in t["partitions"])
            for t in described
        )
        if ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics without leaders after {timeout}s: {names}")
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--replication", type=int, default=1)
    args = parser.parse_args(argv)
    from services.common.settings import ServiceSettings

    created = ensure_topics(args.bootstrap, args.replication,
                            auth=ServiceSettings().kafka_auth())
    print(f"topics created: {', '.join(created) or 'none (all present)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
