"""Cluster conferences, recorded by people (issue 14).

An MPS emulation cluster's year-end conference (seed 004: Cluster No. 4, 27 November
2024) reviews the year, agrees by consensus on the units it proposes and elects next
year's head and deputy. The platform does not decide any of that: its standings and
proposals are suggestions; an operator records what the conference decided. The record
is published on the registry topic (`emulation.units.v1`, key
`<cluster>|conference|<period>`), next to the cluster it changes, so every service's
registry replica (services/common/registry_replica.py) shows the same head and deputy.

The submissions service records it because it owns the registry and its topic."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

from services.common.contracts import ConferenceProposal, ConferenceRecorded
from services.common.envelope import Event, new_event
from services.common.errors import Refusal, Refused
from services.common.mongo import stored_as, without_id
from services.common.ports import Database, Producer
from services.common.registry_replica import CONFERENCE_EVENT, conference_key
from services.common.schema import validated
from services.common.topics import UNITS
from services.submissions.registry import Registry
from services.submissions.schema import ConferenceDoc

SOURCE = "urn:emulation:service:submissions"


class ConferenceRefused(Refused):
    """A conference record the registry contradicts."""


def check_record(registry: Registry, cluster_id: str, period: int, *, head: str,
                 deputy: str | None, proposals: list[ConferenceProposal], held_on: date
                 ) -> None:
    """Why the record cannot be right (ConferenceRefused), checked against the registry:
    the cluster exists in the year reviewed and the next; the proposed units were its
    members that year; the head and deputy are members the year they serve."""
    reviewed = registry.cluster(cluster_id, period)
    serving = registry.cluster(cluster_id, period + 1)
    if reviewed is None:
        raise ConferenceRefused(
            Refusal.NOT_FOUND, "unknown-cluster", f"{cluster_id} does not exist in "
            f"{period}")
    if serving is None:
        raise ConferenceRefused(
            Refusal.INVALID, "cluster-dissolved", f"{cluster_id} does not exist in "
            f"{period + 1}: there is nobody to lead")
    if held_on.year not in (period, period + 1):
        raise ConferenceRefused(
            Refusal.INVALID, "invalid-date", f"a conference reviewing {period} is "
            f"held in {period} or early {period + 1}, not on {held_on}")
    for who, role in ((head, "head"), (deputy, "deputy")):
        if who is not None and who not in serving.members:
            raise ConferenceRefused(
                Refusal.INVALID, "not-a-member", f"the {role} {who} is not a member "
                f"of {cluster_id} in {period + 1}")
    if deputy == head:
        raise ConferenceRefused(
            Refusal.INVALID, "not-a-member", "the head and the deputy must be different units")
    if deputy is None and len(serving.members) > 1:
        raise ConferenceRefused(
            Refusal.INVALID, "invalid-request", "a cluster of more than one member "
            "elects a deputy")
    outside = sorted({p["unit_id"] for p in proposals} - set(reviewed.members))
    if outside:
        raise ConferenceRefused(
            Refusal.INVALID, "not-a-member", f"proposed units not in {cluster_id} "
            f"in {period}: {', '.join(outside)}")


def conference_record(cluster_id: str, period: int, *, held_on: date, place: str,
                      proposals: list[ConferenceProposal], head: str, deputy: str | None,
                      recorded_by: str, at: datetime, reason: str | None
                      ) -> ConferenceRecorded:
    """What the conference reviewing `period` decided, as an operator records it."""
    return {"cluster_id": cluster_id, "period": period, "date": held_on.isoformat(),
            "place": place, "proposals": proposals, "head": head, "deputy": deputy,
            "recorded_by": recorded_by, "recorded_at": now_iso(at), "reason": reason}


def conference_event(record: ConferenceRecorded) -> Event:
    """Its id follows the content: recording the same decisions again is a duplicate."""
    content = {k: v for k, v in record.items() if k not in ("recorded_at", "recorded_by")}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False)
                            .encode()).hexdigest()[:16]
    key = conference_key(record["cluster_id"], record["period"])
    return new_event(type=CONFERENCE_EVENT, source=SOURCE, subject=key,
                     schema="conference-recorded", data=record,
                     id=f"conference:{record['cluster_id']}:{record['period']}:{digest}")


class Conferences:
    def __init__(self, *, db: Database, producer: Producer,
                 registry: Registry) -> None:
        self.coll = db["conferences"]
        self.producer, self.registry = producer, registry

    async def get(self, cluster_id: str, period: int) -> ConferenceRecorded | None:
        doc = await self.coll.find_one({"_id": f"{cluster_id}|{period}"})
        return stored_as(ConferenceRecorded, without_id(doc))

    async def record(self, record: ConferenceRecorded) -> ConferenceRecorded:
        """Store the record, then publish it (acks=all). A failed publish raises
        KafkaUnavailable with the record stored: the same request again publishes it."""
        cid = f"{record['cluster_id']}|{record['period']}"
        await self.coll.replace_one({"_id": cid}, validated(ConferenceDoc, {"_id": cid,
                                                                           **record}),
                                    upsert=True)
        event = conference_event(record)
        await self.producer.send(UNITS, event,
                                 key=conference_key(record["cluster_id"], record["period"]))
        return record


def now_iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()
