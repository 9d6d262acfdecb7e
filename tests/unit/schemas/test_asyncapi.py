"""schemas/asyncapi.yaml agrees with the code: a channel for every topic of
services/common/topics.py with its partitions and settings, every event schema in a
message, every message's example valid against its schema, the headers the producer and
the intake use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common import schemas, topics
from services.common.kafka import STRUCTURED
from services.submissions.proof import KEY_ID_HEADER, SIGNATURE_HEADER

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "schemas"
DOC: dict[str, Any] = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text(encoding="utf-8"))


def resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = DOC
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def channel_of(topic: str) -> dict[str, Any]:
    found = [c for c in DOC["channels"].values() if c["address"] == topic]
    assert len(found) == 1, f"{topic}: {len(found)} channels"
    return found[0]


def messages_of(channel: dict[str, Any]) -> list[dict[str, Any]]:
    return [resolve(m["$ref"]) for m in channel["messages"].values()]


def test_every_topic_is_a_channel_and_every_channel_a_topic() -> None:
    assert sorted(c["address"] for c in DOC["channels"].values()) == sorted(
        t.name for t in topics.TOPICS)


@pytest.mark.parametrize("spec", topics.TOPICS, ids=lambda s: s.name)
def test_a_channels_kafka_binding_is_the_topics_spec(spec: topics.TopicSpec) -> None:
    binding = channel_of(spec.name)["bindings"]["kafka"]
    assert binding["topic"] == spec.name
    assert binding["partitions"] == spec.partitions
    config = dict(binding["topicConfiguration"])
    assert config.pop("cleanup.policy") == spec.config.get("cleanup.policy", "delete").split(",")
    assert config == {k: v for k, v in spec.config.items() if k != "cleanup.policy"}


def test_every_event_schema_is_a_message_payload() -> None:
    payloads = {m["payload"]["schema"]["$ref"] for m in DOC["components"]["messages"].values()}
    assert payloads == {f"./events/{p.name}" for p in (SCHEMAS / "events").glob("*.json")}


@pytest.mark.parametrize("name", sorted(DOC["components"]["messages"]))
def test_a_messages_example_is_valid_against_its_schema(name: str) -> None:
    message = DOC["components"]["messages"][name]
    schema_name = message["payload"]["schema"]["$ref"].rsplit("/", 1)[-1].removesuffix(".json")
    for example in message["examples"]:
        path = SCHEMAS / example["payload"]["$ref"]
        event = json.loads(path.read_text(encoding="utf-8"))
        assert schemas.errors(schema_name, event) == [], path
        assert event["dataschema"].split(":")[-2] == message["name"]


@pytest.mark.parametrize("path", sorted((SCHEMAS / "events").glob("*.json")), ids=str)
def test_a_schema_is_on_the_topics_its_title_names(path: Path) -> None:
    """Each schema's title names its topics: its message is on those channels only."""
    title = json.loads(path.read_text(encoding="utf-8"))["title"]
    named = {t.name for t in topics.TOPICS if t.name in title}
    assert named, title
    ref = f"./events/{path.name}"
    carrying = {c["address"] for c in DOC["channels"].values()
                if any(m["payload"]["schema"]["$ref"] == ref for m in messages_of(c))}
    assert carrying == named


def test_headers_are_the_ones_the_code_sends_and_checks() -> None:
    headers = DOC["components"]["schemas"]
    content_type = headers["eventHeaders"]["properties"]["content-type"]
    assert content_type["const"] == STRUCTURED[1].decode()
    assert "content-type" in headers["eventHeaders"]["required"]
    assert set(headers["signedRequestHeaders"]["required"]) == {KEY_ID_HEADER,
                                                                 SIGNATURE_HEADER}
    request = channel_of(topics.SUBMISSION_REQUESTS)
    for message in messages_of(request):
        assert message["headers"]["$ref"].endswith("/signedRequestHeaders")
    for topic in {t.name for t in topics.TOPICS} - {topics.SUBMISSION_REQUESTS}:
        for message in messages_of(channel_of(topic)):
            assert message["headers"]["$ref"].endswith("/eventHeaders"), topic
            assert message["contentType"] == STRUCTURED[1].decode()


def test_operations_name_existing_channels_and_their_messages() -> None:
    for name, operation in DOC["operations"].items():
        channel_ref = operation["channel"]["$ref"]
        resolve(channel_ref)
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), name
            resolve(message["$ref"])
