"""Issue 14, point 3: a cluster conference's decisions are recorded by a person, and that
record is what every service shows as next year's head and deputy (the registry replica
of scoring, notifications and reporting, the cluster report and its PDF); the rotation
rule's output is only ever a suggestion. On the real stack: Kafka and FerretDB."""

from __future__ import annotations

import asyncio
import io
import unicodedata
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pypdf import PdfReader

from services.common.registry_replica import RegistryReplica
from tests.stackfixture import Stack, wait_for

pytestmark = pytest.mark.integration

CLUSTER = "mps-cluster-4"
REVIEWED = 2085  # the year the conference reviews (no other test uses 2085-2087)
SERVES = REVIEWED + 1
URL = f"/v1/clusters/{CLUSTER}/conferences/{REVIEWED}"
REASON = {"Audit-Reason": "bien-ban-hoi-nghi-cum-4"}


def replica_clusters(stack: Stack, database: str, period: int) -> dict[str, Any]:
    """What a service's own registry replica (its database) answers for the period."""
    async def read() -> dict[str, Any]:
        client: AsyncMongoClient[Any] = AsyncMongoClient(stack.cfg.mongo_url)
        try:
            return await RegistryReplica(client[database]).clusters(period)
        finally:
            await client.close()
    return asyncio.run(read())


def test_the_recorded_conference_is_next_years_leadership_everywhere(stack: Stack) -> None:
    with stack.as_operator("scoring") as c:
        before = wait_for("scoring's suggestion", lambda: (
            r := c.get(f"/v1/clusters/{CLUSTER}/leadership",
                       params={"period": SERVES})).status_code == 200 and r.json())
    assert (before["status"], before["source"]) == ("suggested", "rule")
    members = before["members"]
    head = next(m for m in members if m != before["head"])
    deputy = next(m for m in members if m not in (head, before["deputy"]))
    body = {"date": f"{REVIEWED}-11-27", "place": "Hạ Long, Quảng Ninh",
            "head": head, "deputy": deputy,
            "proposals": [{"unit_id": members[2], "award": "government_emulation_flag",
                           "reason": "hội nghị thống nhất đề nghị"}]}

    with stack.client("submissions", stack.token(head)) as c:
        assert c.put(URL, json=body, headers=REASON).status_code == 403  # units do not
    with stack.as_operator("submissions") as c:
        stranger = c.put(URL, json={**body, "head": "police:ha-noi"}, headers=REASON)
        assert stranger.status_code == 422 and "not a member" in stranger.json()["detail"]
        same = c.put(URL, json={**body, "deputy": head}, headers=REASON)
        assert same.status_code == 422
        recorded = c.put(URL, json=body, headers=REASON)
        assert recorded.status_code == 200, recorded.text
        record = recorded.json()
        assert (record["serves"], record["head"], record["deputy"]) == (SERVES, head, deputy)
        assert record["recorded_by"] and record["recorded_at"]
        assert c.get(URL).json()["head"] == head

    # Scoring: the conference, not the rule.
    with stack.as_operator("scoring") as c:
        lead = wait_for("scoring to show the recorded head", lambda: (
            r := c.get(f"/v1/clusters/{CLUSTER}/leadership", params={"period": SERVES}
                       ).json()) and r["source"] == "conference" and r)
        after = c.get(f"/v1/clusters/{CLUSTER}/leadership",
                      params={"period": SERVES + 1}).json()
    assert (lead["head"], lead["deputy"], lead["status"]) == (head, deputy, "confirmed")
    assert f"{REVIEWED}-11-27" in lead["reason"]
    # The year after: a suggestion again, anchored on the recorded election.
    assert after["status"] == "suggested" and "(conference)" in after["reason"]

    # Notifications and reporting: their own registry replicas say the same.
    for database in ("emulation_notifications", "emulation_reporting", "emulation_scoring"):
        shown = wait_for(f"{database}'s replica", lambda d=database: (
            c4 := replica_clusters(stack, d, SERVES).get(CLUSTER)) and c4.get("head")
            and c4)
        assert (shown["head"], shown["deputy"]) == (head, deputy), database
        assert replica_clusters(stack, database, SERVES + 1)[CLUSTER].get("head") is None

    # The cluster report (json and pdf) shows the record and labels the rest suggestions.
    with stack.as_operator("reporting") as c:
        rep = wait_for("the cluster report", lambda: (
            r := c.get(f"/v1/reports/clusters/{CLUSTER}", params={"period": REVIEWED}
                       ).json()) and r.get("conference") and r)
        pdf = c.get(f"/v1/reports/clusters/{CLUSTER}",
                    params={"period": REVIEWED, "format": "pdf"})
    nxt = rep["next_year_leadership"]
    assert (nxt["head"]["unit_id"], nxt["deputy"]["unit_id"], nxt["source"]) == (
        head, deputy, "conference")
    assert [p["unit_id"] for p in rep["conference"]["proposals"]] == [members[2]]
    assert pdf.status_code == 200
    text = unicodedata.normalize("NFC", "\n".join(
        p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages))
    assert f"Hội nghị cụm ngày 27/11/{REVIEWED}" in text
    assert "Gợi ý của hệ thống" in text
    assert f"Cụm trưởng: {nxt['head']['name']}" in text
