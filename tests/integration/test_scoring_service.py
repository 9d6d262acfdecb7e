"""The scoring service on the real stack: scores whose lines add up, amendments that move
the standings of mps-cluster-4, redelivery that changes nothing, rescoring under another
rubric version (API and CLI) that keeps the old scores, proposals capped at 20% of the
cluster leaders with the real registry, and the cluster head and deputy register.
Periods 2031-2039 belong to these tests."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from services.common import schemas
from tests.conftest import ROOT, request_for
from tests.stackfixture import Stack, finished_job, unique_key, wait_for

pytestmark = pytest.mark.integration
SCORES_TOPIC = "emulation.scores.v1"
SUBMISSIONS_TOPIC = "emulation.submissions.v1"
CLUSTER_4 = ["police:bac-ninh", "police:hung-yen", "police:lang-son", "police:phu-tho",
             "police:quang-ninh", "police:thai-nguyen"]


def body(example: dict[str, Any], unit: str, period: int, rating: int) -> dict[str, Any]:
    b = request_for(example, unit, period)
    b["self_assessment"] = {c: {"rating": rating} for c in b["self_assessment"]}
    return b


def submit(stack: Stack, b: dict[str, Any]) -> dict[str, Any]:
    with stack.client("submissions", stack.token(b["unit_id"])) as c:
        r = c.post("/v1/submissions", json=b, headers={"Idempotency-Key": unique_key()})
    assert r.status_code == 202, r.text
    receipt: dict[str, Any] = r.json()
    return receipt


def score_of(stack: Stack, unit: str, period: int, revision: int = 1,
             version: str | None = None) -> dict[str, Any]:
    """Waits for the unit's score in force to reach `revision` (and `version`)."""
    def probe() -> dict[str, Any] | None:
        with stack.as_operator("scoring") as c:
            r = c.get(f"/v1/scores/{unit}", params={"period": period})
        if r.status_code != 200:
            return None
        doc: dict[str, Any] = r.json()
        ok = doc["revision"] >= revision and (version is None or doc["rubric_version"] == version)
        return doc if ok else None
    return wait_for(f"the score of {unit} r{revision}", probe, timeout=60)


def standings(stack: Stack, cluster: str, period: int, token: str | None = None
              ) -> dict[str, Any]:
    with stack.client("scoring", token or stack.operator) as c:
        r = c.get(f"/v1/clusters/{cluster}/standings", params={"period": period})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def records(stack: Stack, topic: str, match: Callable[[dict[str, Any]], bool]
            ) -> list[dict[str, Any]]:
    """Every record of `topic` up to its current end whose JSON value matches."""
    consumer = KafkaConsumer(**stack.cfg.kafka_client(), group_id=None,
                             enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        ends = consumer.end_offsets(parts)
        consumer.seek_to_beginning(*parts)
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(p) < ends[p] for p in parts):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    if record.offset >= ends[TopicPartition(record.topic, record.partition)]:
                        continue
                    with suppress(ValueError, RecursionError):  # other tests' poison
                        value = json.loads(record.value)
                        if isinstance(value, dict) and match(value):
                            value["_key"] = record.key.decode() if record.key else None
                            found.append(value)
        return found
    finally:
        consumer.close()


def of_type(kind: str, subject: str, period: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: (e.get("type") == kind and e.get("subject") == subject
                      and e["data"].get("period") == period)


def metric(stack: Stack, name: str, **labels: str) -> float:
    """A counter of the scoring service's /metrics (labels in any order; 0 if absent)."""
    with stack.client("scoring") as c:
        text = c.get("/metrics").text
    for line in text.splitlines():
        m = re.match(rf"{name}\{{(.*)\}} ([0-9.e+]+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1).split(",") for k, v in labels.items()):
            return float(m.group(2))
    return 0.0


def valid(event: dict[str, Any], schema: str) -> None:
    clean = {k: v for k, v in event.items() if not k.startswith("_")}
    assert schemas.errors(schema, clean) == []


# -- scores and standings --------------------------------------------------------------------

def test_scores_add_up_and_amendments_move_the_standings_of_cluster_4(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack, period = clock, 2031
    stack.set_clock("2031-11-10T09:00:00+07:00")
    for unit, rating in (("police:phu-tho", 7), ("police:bac-ninh", 9),
                         ("police:quang-ninh", 8)):
        submit(stack, body(example_request, unit, period, rating))
    scores = {u: score_of(stack, u, period) for u in
              ("police:phu-tho", "police:bac-ninh", "police:quang-ninh")}
    for s in scores.values():
        assert s["rubric_version"] == "police-2026.1" and s["max"] == 100 and s["current"]
        assert s["total"] == pytest.approx(sum(line["points"] for line in s["breakdown"]),
                                           abs=1e-6)
        criteria = {line["criterion"] for line in s["breakdown"]}
        assert {"P1", "P2", "P3", "P4", "bonus:flags", "deduction:late"} <= criteria
        assert all(line["explanation"] for line in s["breakdown"])

    # A member reads its cluster's ranks and totals, and only its own breakdown; a unit
    # of another cluster may not read them at all.
    table = wait_for("three scores in the standings", lambda: (
        t := standings(stack, "mps-cluster-4", period, stack.token("police:quang-ninh")))
        and sum(r["submitted"] for r in t["standings"]) == 3 and t)
    assert [bool(r["breakdown"]) for r in table["standings"][:3]] == [False, True, False]
    with stack.client("scoring", stack.token("police:ha-noi")) as c:
        assert c.get("/v1/clusters/mps-cluster-4/standings",
                     params={"period": period}).status_code == 403
    assert table["cluster_id"] == "mps-cluster-4" and table["period"] == period
    assert [r["unit_id"] for r in table["standings"]] == [
        "police:bac-ninh", "police:quang-ninh", "police:phu-tho",  # by score
        "police:hung-yen", "police:lang-son", "police:thai-nguyen"]  # not submitted: by id
    assert [r["rank"] for r in table["standings"]] == [1, 2, 3, 4, 5, 6]
    assert sorted(r["unit_id"] for r in table["standings"]) == CLUSTER_4
    assert table["standings"][0]["score"] == scores["police:bac-ninh"]["total"]
    assert table["standings"][3]["score"] is None and not table["standings"][3]["submitted"]
    assert table["rubric_version"] == "police-2026.1" and "unit id" in table["tie_break"]

    # An amendment replaces the score, and Phu Tho moves to the top.
    amended = submit(stack, body(example_request, "police:phu-tho", period, 10))
    assert amended["revision"] == 2
    new = score_of(stack, "police:phu-tho", period, revision=2)
    assert new["submission_id"] == amended["submission_id"]
    assert new["total"] > scores["police:bac-ninh"]["total"] > scores["police:phu-tho"]["total"]
    table = wait_for("Phu Tho on top", lambda: (
        t := standings(stack, "mps-cluster-4", period))
        and t["standings"][0]["unit_id"] == "police:phu-tho" and t)
    assert [r["unit_id"] for r in table["standings"][:3]] == [
        "police:phu-tho", "police:bac-ninh", "police:quang-ninh"]
    assert table["standings"][0]["revision"] == 2
    with stack.as_operator("scoring") as c:
        history = c.get("/v1/scores/police:phu-tho/history", params={"period": period}).json()
    assert [(h["revision"], h["current"]) for h in history] == [(1, False), (2, True)]

    # The standings were published after the scores (debounced: soon after the API
    # shows them), in the shape reporting reads.
    published = wait_for("the standings event", lambda: [
        e for e in records(stack, SCORES_TOPIC, of_type(
            "vn.emulation.cluster.standings", "mps-cluster-4", period))
        if e["data"]["standings"][0]["unit_id"] == "police:phu-tho"
        and e["data"]["standings"][0]["revision"] == 2])
    event = published[-1]
    assert event["_key"] == "mps-cluster-4"
    valid(event, "cluster-standings.v1")
    assert [r["unit_id"] for r in event["data"]["standings"]] == [
        r["unit_id"] for r in table["standings"]]


def test_redelivered_submissions_change_nothing(clock: Stack,
                                                example_request: dict[str, Any]) -> None:
    stack, period, unit = clock, 2031, "police:lang-son"
    stack.set_clock("2031-11-12T09:00:00+07:00")
    first = submit(stack, body(example_request, unit, period, 6))
    second = submit(stack, body(example_request, unit, period, 9))
    before = score_of(stack, unit, period, revision=2)
    table_before = wait_for("Lang Son in the standings", lambda: (
        t := standings(stack, "mps-cluster-4", period)) and any(
        r["unit_id"] == unit and r["revision"] == 2 for r in t["standings"]) and t)
    ids = {e["id"] for e in records(stack, SCORES_TOPIC, lambda e: e.get("subject") == unit)}
    # The standings are published soon after the API shows them (debounced): wait for it.
    def published() -> list[dict[str, Any]] | None:
        found = records(stack, SCORES_TOPIC, of_type(
            "vn.emulation.cluster.standings", "mps-cluster-4", period))
        done = found and any(r["unit_id"] == unit and r["revision"] == 2
                             for r in found[-1]["data"]["standings"])
        return found if done else None

    standings_ids = {e["id"] for e in wait_for("the standings event with Lang Son r2",
                                               published)}

    # The same records of emulation.submissions.v1 again: the newer, then the older.
    originals = {e["id"]: e for e in records(
        stack, SUBMISSIONS_TOPIC,
        lambda e: e.get("id") in (first["submission_id"], second["submission_id"]))}
    assert len(originals) == 2
    replayed = metric(stack, "scoring_scores_total", unit_type="police", outcome="replayed")
    superseded = metric(stack, "scoring_scores_total", unit_type="police",
                        outcome="superseded")
    producer = stack.producer()
    try:
        for sid in (second["submission_id"], first["submission_id"]):
            value = {k: v for k, v in originals[sid].items() if not k.startswith("_")}
            producer.send(SUBMISSIONS_TOPIC, key=unit.encode(),
                          value=json.dumps(value).encode())
        producer.flush()
    finally:
        producer.close()
    # Both were processed: the newer one republished as kept, the older one refused.
    wait_for("scoring to process both", lambda: metric(
        stack, "scoring_scores_total", unit_type="police", outcome="replayed") >= replayed + 1
        and metric(stack, "scoring_scores_total", unit_type="police",
                   outcome="superseded") >= superseded + 1)

    after = score_of(stack, unit, period, revision=2)
    assert after == before  # same revision, total, rubric, times
    table_after = standings(stack, "mps-cluster-4", period)
    table_after.pop("computed_at"), table_before.pop("computed_at")
    assert table_after == table_before
    assert {e["id"] for e in records(stack, SCORES_TOPIC,
                                     lambda e: e.get("subject") == unit)} == ids
    assert {e["id"] for e in records(stack, SCORES_TOPIC, of_type(
        "vn.emulation.cluster.standings", "mps-cluster-4", period))} == standings_ids


# -- rescoring ---------------------------------------------------------------------------------

def test_a_rescore_produces_new_scores_and_keeps_the_old_ones(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack, period = clock, 2032
    stack.set_clock("2032-11-10T09:00:00+07:00")
    police = {"police:phu-tho": 9, "police:bac-ninh": 7}
    for unit, rating in police.items():
        submit(stack, body(example_request, unit, period, rating))
    submit(stack, body(example_request, "province:ha-noi", period, 8))
    old = {u: score_of(stack, u, period) for u in police}
    province = score_of(stack, "province:ha-noi", period)
    assert {s["rubric_version"] for s in old.values()} == {"police-2026.1"}

    with stack.client("scoring", stack.token("police:phu-tho")) as c:
        refused = c.post("/v1/admin/rescore", json={"period": period,
                                                    "rubric_version": "police-2024.1"})
    assert refused.status_code == 403
    with stack.as_operator("scoring") as c:
        assert c.post("/v1/admin/rescore", json={
            "period": period, "rubric_version": "police-1999.1"}).status_code == 422
        assert c.post("/v1/admin/rescore", json={
            "period": period, "rubric_version": "not a version"}).status_code == 422
        assert c.post("/v1/admin/rescore", json={
            "period": 2025, "rubric_version": "police-2026.1"}).status_code == 422
        job = finished_job(c, c.post("/v1/admin/rescore", json={
            "period": period, "rubric_version": "police-2024.1"}))
    assert job["state"] == "succeeded", job
    result = job["result"]
    assert job["stage"] == "done" and job["done"] == job["total"] == 2
    assert (result["unit_type"], result["submissions"], result["rescored"]) == ("police", 2, 2)
    assert result["records_read"] >= 3

    with stack.as_operator("scoring") as c:
        for unit in police:
            new = c.get(f"/v1/scores/{unit}", params={"period": period}).json()
            assert new["rubric_version"] == "police-2024.1" and new["current"]
            assert new["total"] != old[unit]["total"]
            assert new["total"] == pytest.approx(sum(x["points"] for x in new["breakdown"]))
            kept = c.get(f"/v1/scores/{unit}", params={
                "period": period, "rubric_version": "police-2026.1"}).json()
            assert kept["total"] == old[unit]["total"] and not kept["current"]
            assert kept["breakdown"] == old[unit]["breakdown"]
        # Other unit types keep their rubric; the chosen one stays in force for the period.
        assert c.get("/v1/scores/province:ha-noi", params={"period": period}).json()[
            "rubric_version"] == province["rubric_version"] == "province-2026.1"
        assert c.get("/v1/rubrics/in-force/police", params={"period": period}).json()[
            "version"] == "police-2024.1"
        assert c.get("/v1/rubrics/in-force/police", params={"period": 2031}).json()[
            "version"] == "police-2026.1"
    new_events = records(stack, SCORES_TOPIC, lambda e: e.get("type") == (
        "vn.emulation.score.computed") and e["data"]["period"] == period
        and e["data"]["rubric_version"] == "police-2024.1")
    assert {e["subject"] for e in new_events} == set(police)
    for e in new_events:
        valid(e, "score-computed.v2")
    table = standings(stack, "mps-cluster-4", period)
    assert table["rubric_version"] == "police-2024.1"

    # A later amendment is scored under the rubric the rescore put in force.
    submit(stack, body(example_request, "police:bac-ninh", period, 10))
    assert score_of(stack, "police:bac-ninh", period, revision=2)[
        "rubric_version"] == "police-2024.1"

    # The command line does the same: back to police-2026.1, the first numbers return.
    from devstack.parts import service_env

    done = subprocess.run(
        [sys.executable, "-m", "services.scoring", "rescore", "--period", str(period),
         "--rubric-version", "police-2026.1"],
        cwd=ROOT, env=service_env(stack.cfg, "scoring"), capture_output=True, text=True,
        timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["rubric_version"], summary["rescored"]) == ("police-2026.1", 2)
    phu_tho = score_of(stack, "police:phu-tho", period, version="police-2026.1")
    assert phu_tho["total"] == old["police:phu-tho"]["total"]
    with stack.as_operator("scoring") as c:
        versions = {(h["rubric_version"], h["revision"]) for h in c.get(
            "/v1/scores/police:bac-ninh/history", params={"period": period}).json()}
    assert versions == {("police-2026.1", 1), ("police-2024.1", 1), ("police-2024.1", 2),
                        ("police-2026.1", 2)}
    bad = subprocess.run(
        [sys.executable, "-m", "services.scoring", "rescore", "--period", str(period),
         "--rubric-version", "police-1999.1"],
        cwd=ROOT, env=service_env(stack.cfg, "scoring"), capture_output=True, text=True,
        timeout=180)
    assert bad.returncode == 2 and "unknown-rubric" in bad.stderr


# -- proposals and leadership -------------------------------------------------------------------

LEADERS_2033 = {"police:quang-ninh": 10, "police:ha-noi": 9, "police:lao-cai": 8,
                "police:nghe-an": 8, "police:hue": 7, "police:can-tho": 9}


def test_proposals_respect_the_20_percent_rule_with_the_real_registry(
        clock: Stack, example_request: dict[str, Any]) -> None:
    stack, period = clock, 2033
    stack.set_clock("2033-11-10T09:00:00+07:00")
    for unit, rating in LEADERS_2033.items():
        if unit != "police:can-tho":
            submit(stack, body(example_request, unit, period, rating))
    ministry = body(example_request, "ministry:public-security", period, 10)
    evidence = example_request["contents"]["implement_directives"]["evidence"]
    for content in ministry["contents"].values():
        content["evidence"] = evidence
    submit(stack, ministry)
    stack.set_clock("2033-12-02T09:00:00+07:00")  # Can Tho reports late
    late = submit(stack, body(example_request, "police:can-tho", period, 9))
    assert late["on_time"] is False
    for unit in [*LEADERS_2033, "ministry:public-security"]:
        score_of(stack, unit, period)

    with stack.as_operator("scoring") as c:
        # Can Tho's late report is not ranked: its cluster has no leader (issue 14).
        data = wait_for("five cluster leaders", lambda: (
            p := c.get("/v1/proposals", params={"period": period}).json())
            and p["cluster_leaders"] == 5 and any(
                q["unit_id"] == "ministry:public-security" for q in p["proposals"]) and p)
    # A unit's token: the proposals of its own cluster (and its own) only.
    with stack.client("scoring", stack.token("police:quang-ninh")) as c:
        own = c.get("/v1/proposals", params={"period": period}).json()["proposals"]
    assert own and {p["cluster_id"] for p in own} == {"mps-cluster-4"}
    assert len(own) < len(data["proposals"])
    assert data["government_flag_cap"] == 1  # 20% of 5, rounded down
    awards = {p["unit_id"]: p for p in data["proposals"]}
    flags = [p for p in data["proposals"] if p["award"] == "government_emulation_flag"]
    assert len(flags) <= 0.2 * data["cluster_leaders"] and len(flags) == 1
    assert flags[0]["unit_id"] == "police:quang-ninh"
    assert flags[0]["cluster_id"] == "mps-cluster-4" and "20%" in flags[0]["reason"]
    for unit in LEADERS_2033:
        if unit != "police:can-tho":
            assert awards[unit]["award"] in ("government_emulation_flag", "mps_emulation_flag")
    assert "police:can-tho" not in awards
    assert awards["ministry:public-security"]["award"] == "certificate_of_merit"
    assert awards["ministry:public-security"]["cluster_id"] is None
    assert "20%" in data["rule"]

    event = wait_for("the proposals event", lambda: [
        e for e in records(stack, SCORES_TOPIC, lambda e: e.get("subject") == (
            f"period:{period}")) if e["data"]["cluster_leaders"] == 5
        and any(p["unit_id"] == "ministry:public-security" for p in e["data"]["proposals"])
        ])[-1]
    assert event["type"] == "vn.emulation.recognition.proposals"
    assert event["_key"] == f"period:{period}"
    valid(event, "recognition-proposals.v1")
    assert event["data"]["government_flag_cap"] == 1
    assert [p["unit_id"] for p in event["data"]["proposals"]
            if p["award"] == "government_emulation_flag"] == ["police:quang-ninh"]


def test_next_years_head_and_deputy_are_suggested_never_decided_here(
        clock: Stack, example_request: dict[str, Any]) -> None:
    """The rule's output is a suggestion for the conference; the conference's record
    (submissions service, tests/integration/test_conferences.py) is the decision."""
    stack, cluster = clock, "mps-cluster-4"
    with stack.client("scoring", stack.token("police:phu-tho")) as c:
        seed = c.get(f"/v1/clusters/{cluster}/leadership", params={"period": 2025}).json()
        assert (seed["head"], seed["deputy"], seed["source"]) == (
            "police:phu-tho", "police:bac-ninh", "registry")
        assert c.get("/v1/clusters/mps-cluster-99/leadership",
                     params={"period": 2035}).status_code == 404
    with stack.as_operator("scoring") as c:
        # The retired decision route: leadership is recorded with the conference.
        assert c.put(f"/v1/clusters/{cluster}/leadership", params={"period": 2035},
                     json={"decision": "confirm"},
                     headers={"Audit-Reason": "test"}).status_code == 405

    stack.set_clock("2034-11-10T09:00:00+07:00")
    submit(stack, body(example_request, "police:thai-nguyen", 2034, 8))
    score_of(stack, "police:thai-nguyen", 2034)
    # Rotating from the registry's 2025 (Phu Tho head, Bac Ninh deputy) through 2035.
    with stack.as_operator("scoring") as c:
        suggestion = c.get(f"/v1/clusters/{cluster}/leadership", params={"period": 2035}).json()
    assert suggestion["status"] == "suggested" and suggestion["source"] == "rule"
    assert suggestion["head"] in suggestion["members"]
    assert suggestion["deputy"] in suggestion["members"]
    assert suggestion["head"] != suggestion["deputy"]
    assert suggestion["rule"].startswith("rotation-v1")
    assert "2025: head police:phu-tho, deputy police:bac-ninh (registry)" in suggestion["reason"]
    suggested = wait_for("the suggestion event", lambda: records(
        stack, SCORES_TOPIC, of_type("vn.emulation.cluster.leadership", cluster, 2035)))
    assert suggested[-1]["data"]["status"] == "suggested"
    valid(suggested[-1], "cluster-leadership.v1")


def test_bad_requests_get_problem_details(stack: Stack) -> None:
    with stack.client("scoring") as c:
        assert c.get("/v1/clusters/mps-cluster-4/standings",
                     params={"period": 2031}).status_code == 401
    with stack.client("scoring", stack.token("police:phu-tho")) as c:
        for path, params, status in [
            ("/v1/clusters/mps-cluster-4/standings", {"period": 1999}, 422),
            ("/v1/clusters/mps-cluster-4/standings", {"period": "x"}, 422),
            ("/v1/clusters/cluster-4/standings", {"period": 2031}, 422),
            ("/v1/clusters/mps-cluster-99/standings", {"period": 2031}, 404),
            ("/v1/proposals", {}, 422),
            ("/v1/scores/police:bac-ninh", {"period": 2031}, 403),
            ("/v1/scores/police:phu-tho", {"period": 2039}, 404),
            ("/v1/rubrics/police-1999.1", {}, 404),
        ]:
            r = c.get(path, params=params)
            assert r.status_code == status, (path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        assert c.get("/v1/rubrics/police-2026.1").json()["from_period"] == 2026
