"""Kafka credentials in each client's shape, the ACL table, and the proof of the unit,
without a broker (the real refusals: tests/integration/test_kafka_security.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.common.kafka import Rejected
from services.common.kafka_acls import GRANTS, MINISTRY, acl_rows
from services.common.kafka_auth import KafkaAuth
from services.common.settings import ServiceSettings
from services.common.topics import SUBMISSION_REQUESTS, TOPICS, UNITS
from services.submissions.proof import UnitKeys, UnitProof, issue_unit_keys, signed_headers


def test_settings_with_a_username_use_scram_over_sasl_plaintext(tmp_path: Path) -> None:
    auth = ServiceSettings(kafka_username="scoring", kafka_password="pw").kafka_auth()
    assert auth.aiokafka() == {"security_protocol": "SASL_PLAINTEXT",
                               "sasl_mechanism": "SCRAM-SHA-512",
                               "sasl_plain_username": "scoring", "sasl_plain_password": "pw",
                               "ssl_context": None}
    assert auth.faust().mechanism.value == "SCRAM-SHA-512"
    assert 'username="scoring" password="pw"' in auth.java_properties()
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    on_tls = ServiceSettings(kafka_username="scoring", kafka_password_file=secret,
                             kafka_security_protocol="SASL_SSL").kafka_auth()
    assert on_tls.password == "from-a-file" and on_tls.ssl_context() is not None
    assert "pw" not in repr(auth)
    plain = KafkaAuth(username="admin", password="x", protocol="SASL_PLAINTEXT",
                      mechanism="PLAIN")
    assert "plain.PlainLoginModule" in plain.java_properties()  # compose's admin jobs


def test_a_username_without_a_password_fails_at_start_up() -> None:
    with pytest.raises(ValidationError, match="needs a username and a password"):
        ServiceSettings(kafka_username="scoring")
    assert KafkaAuth().aiokafka() == {} and KafkaAuth().faust() is None


def test_each_topic_has_one_writer_among_the_services_and_requests_come_from_outside() -> None:
    writers: dict[str, set[str]] = {}
    for who, op, kind, name in acl_rows():
        if (op, kind) == ("WRITE", "TOPIC"):
            writers.setdefault(name, set()).add(who)
    assert writers[UNITS] == {"submissions"}
    assert writers[SUBMISSION_REQUESTS] == {MINISTRY}
    assert set(writers) == {t.name for t in TOPICS}
    ministry = next(g for g in GRANTS if g.principal == MINISTRY)
    assert (ministry.reads, ministry.groups) == ((), ())


class Message:
    def __init__(self, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.value, self.headers = value, headers
        self.topic, self.partition, self.offset = SUBMISSION_REQUESTS, 0, 0


def proof_with(tmp_path: Path, units: list[str]) -> tuple[UnitProof, dict[str, Any]]:
    keys = issue_unit_keys(units)
    path = tmp_path / "unit-keys.json"
    path.write_text(json.dumps(keys))
    return UnitProof(UnitKeys(path)), keys


def request(unit: str) -> bytes:
    return json.dumps({"subject": unit, "data": {"unit_id": unit}}).encode()


def test_a_request_signed_with_its_unit_s_key_is_admitted(tmp_path: Path) -> None:
    proof, keys = proof_with(tmp_path, ["province:a", "province:b"])
    value = request("province:a")
    key = keys["province:a"]
    proof.check(Message(value, signed_headers(key["key_id"], key["key"], value)))


@pytest.mark.parametrize("flaw", ["unsigned", "tampered", "other unit", "unknown key",
                                  "other scheme"])
def test_a_request_without_a_valid_proof_is_unauthenticated(tmp_path: Path,
                                                            flaw: str) -> None:
    proof, keys = proof_with(tmp_path, ["province:a", "province:b"])
    value = request("province:b")
    key = keys["province:b"]
    headers = signed_headers(key["key_id"], key["key"], value)
    if flaw == "unsigned":
        headers = []
    elif flaw == "tampered":
        value = value.replace(b"province:b", b"province:a")
    elif flaw == "other unit":
        a = keys["province:a"]
        headers = signed_headers(a["key_id"], a["key"], value)
    elif flaw == "unknown key":
        headers = [("emulation-key-id", b"k-unknown"), headers[1]]
    else:
        headers = [headers[0], ("emulation-signature", headers[1][1].replace(b"v1=", b"v0="))]
    with pytest.raises(Rejected) as refused:
        proof.check(Message(value, headers))
    assert refused.value.reason == "unauthenticated"


def test_a_client_properties_file_gives_back_its_credentials_and_bootstrap() -> None:
    """What `java_properties` writes (devstack's admin.properties) reads back the same."""
    for auth in (KafkaAuth.scram("admin", "s3cr=t"),
                 KafkaAuth.scram("admin", "pw", tls=True, cafile="/etc/ca.pem"), KafkaAuth()):
        text = "# admin\nbootstrap.servers=127.0.0.1:9092\n" + auth.java_properties()
        assert KafkaAuth.from_java_properties(text) == (auth, "127.0.0.1:9092")
    assert KafkaAuth.from_java_properties("security.protocol=PLAINTEXT\n")[1] is None


def binary(unit: str, subject: str, event_id: str = "e-1"
           ) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A binary-mode request: the value is the data, the subject a `ce_subject` header."""
    return json.dumps({"unit_id": unit}).encode(), [
        ("content-type", b"application/json"), ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()), ("ce_subject", subject.encode())]


@pytest.mark.parametrize("subject, unit, admitted", [
    ("province:a", "province:a", True),
    ("province:b", "province:a", False),  # the subject header claims another unit
    ("province:a", "province:b", False),  # the signed data claims another unit
])
def test_a_binary_mode_request_is_signed_over_its_value_and_its_subject_checked(
        tmp_path: Path, subject: str, unit: str, admitted: bool) -> None:
    proof, keys = proof_with(tmp_path, ["province:a", "province:b"])
    value, headers = binary(unit, subject)
    key = keys["province:a"]
    message = Message(value, [*headers, *signed_headers(key["key_id"], key["key"], value,
                                                         headers)])
    if admitted:
        proof.check(message)
        return
    with pytest.raises(Rejected) as refused:
        proof.check(message)
    assert refused.value.extra["why"] == "other-unit"


def test_a_binary_mode_record_sent_again_with_another_event_id_does_not_verify(
        tmp_path: Path) -> None:
    """The event id (the idempotency key) is a header in binary mode: it is signed with
    the value, so a captured record cannot become a new request under a new `ce_id`."""
    proof, keys = proof_with(tmp_path, ["province:a"])
    key = keys["province:a"]
    value, headers = binary("province:a", "province:a", "e-1")
    signed = signed_headers(key["key_id"], key["key"], value, headers)
    proof.check(Message(value, [*headers, *signed]))  # as signed: admitted
    _, renamed = binary("province:a", "province:a", "e-2")
    with pytest.raises(Rejected) as refused:
        proof.check(Message(value, [*renamed, *signed]))
    assert refused.value.extra["why"] == "bad-signature"
    # and a value-only signature (the structured rule) does not pass for binary mode
    bare = signed_headers(key["key_id"], key["key"], value)
    with pytest.raises(Rejected):
        proof.check(Message(value, [*headers, *bare]))


def test_a_unit_s_key_signs_its_own_people_s_records_and_no_one_else_s(tmp_path: Path) -> None:
    """A person's record (docs/submissions.md, "Individuals") speaks for the person, and
    the unit that reports the person signs it."""
    proof, keys = proof_with(tmp_path, ["province:quang-ninh", "province:ha-noi"])
    value = request("individual:province-quang-ninh-k7p2x9")
    own = keys["province:quang-ninh"]
    proof.check(Message(value, signed_headers(own["key_id"], own["key"], value)))
    other = keys["province:ha-noi"]
    with pytest.raises(Rejected) as refused:
        proof.check(Message(value, signed_headers(other["key_id"], other["key"], value)))
    assert refused.value.extra["why"] == "other-unit"
