"""A service's own copy of the compacted `emulation.units.v1` topic, in its own database.

The topic is the contract; this mirrors it and answers the two questions every
consumer asks: which units exist in a period, and which cluster holds which units.

Those answers are asked every few seconds (the notifications pass, scoring's flushes),
and reading a whole collection is a scan on FerretDB, so each process keeps the replica
in memory. The replica changes only in `apply`, but every worker of a service applies
the records of its own partitions to the one shared database: `apply` therefore also
writes a new random token to a generation document (`registry_meta`, `_id` =
`generation`), and a reader checks that token (one read by `_id`) before it uses what
it holds. Its own `apply` forgets the cache at once. A worker that dies between the
write and the token has not committed the record's offset: the record comes again and
changes the token then."""

from __future__ import annotations

import uuid
from typing import Any, NotRequired, TypedDict, cast

import mongoengine as me

from services.common import event_types
from services.common.contracts import (
    ClusterRegistered,
    ClusterYear,
    ConferenceRecorded,
    DeadlineSet,
    UnitRegistered,
)
from services.common.envelope import Event
from services.common.mongo import ByIdReads, all_stored_as, stored_as
from services.common.ports import Database
from services.common.schema import IntField, validated

UNIT_EVENT = event_types.REGISTRY_UNIT
CLUSTER_EVENT = event_types.REGISTRY_CLUSTER
CONFERENCE_EVENT = event_types.REGISTRY_CONFERENCE
DEADLINE_EVENT = event_types.REGISTRY_DEADLINE


class RegistryUnitDoc(me.Document):
    """A unit's latest registry record (`_id` = unit id): the event's data as it came
    (schemas/events/unit-registered.v1.json) and its id. Its types are checked here;
    which fields it must have and which unit types exist, by the event's schema."""

    meta = {"collection": "registry_units", "strict": False}
    id = me.StringField(primary_key=True)
    unit_id = me.StringField()
    name = me.StringField()
    name_en = me.StringField()
    type = me.StringField()
    valid_from = IntField(null=True)
    valid_until = IntField(null=True)
    successor = me.StringField(null=True)
    supervisor = me.StringField(null=True)
    organization_kind = me.StringField(null=True)
    contacts = me.DictField()  # {emails, phones, language}
    clusters = me.MapField(me.StringField())  # period (text) -> cluster id
    event_id = me.StringField(required=True)


class RegistryClusterDoc(me.Document):
    """A cluster's latest registry record (`_id` = cluster id), as the unit's above
    (schemas/events/cluster-registered.v1.json)."""

    meta = {"collection": "registry_clusters", "strict": False}
    id = me.StringField(primary_key=True)
    cluster_id = me.StringField()
    name = me.StringField()
    # year (text) -> {members, head, deputy, dissolved}
    years = me.MapField(me.DictField())
    event_id = me.StringField(required=True)


class RegistryConferenceDoc(me.Document):
    """A cluster conference's record (`_id` = cluster|conference|period), the event's data
    as it came (schemas/events/conference-recorded.v1.json) and its id."""

    meta = {"collection": "registry_conferences", "strict": False}
    id = me.StringField(primary_key=True)
    cluster_id = me.StringField(required=True)
    period = IntField(required=True)
    date = me.StringField()
    place = me.StringField()
    # [{unit_id, award, reason}]: what the conference agreed to propose
    proposals = me.ListField(me.DictField())
    head = me.StringField()
    deputy = me.StringField(null=True)
    recorded_by = me.StringField()
    recorded_at = me.StringField()
    reason = me.StringField()
    event_id = me.StringField(required=True)


class RegistryDeadlineDoc(me.Document):
    """A movement's units' deadline for a period set by an operator (`_id` =
    movement|deadline|period), the event's data as it came
    (schemas/events/deadline-set.v1.json) and its id."""

    meta = {"collection": "registry_deadlines", "strict": False}
    id = me.StringField(primary_key=True)
    movement = me.StringField(required=True)
    period = IntField(required=True)
    deadline = me.StringField(required=True)  # ISO, with its offset
    set_by = me.StringField()
    set_at = me.StringField()
    reason = me.StringField(null=True)
    event_id = me.StringField(required=True)


class RegistryMetaDoc(me.Document):
    """`_id` = `generation`: a token that changes whenever the replica does."""

    meta = {"collection": "registry_meta", "strict": False}
    id = me.StringField(primary_key=True)
    token = me.StringField(required=True)


class ReplicaUnit(UnitRegistered):
    """A unit as the replica holds it: its latest registry event's data, keyed by id."""

    _id: str
    event_id: str


class ReplicaYear(ClusterYear):
    """A cluster's year, with the conference that elected its head and deputy."""

    conference: NotRequired[ReplicaConference]


class ReplicaCluster(TypedDict):
    """A cluster as the replica holds it, its years with what conferences decided."""

    _id: str
    cluster_id: str
    name: str
    years: dict[str, ReplicaYear]
    event_id: str


class ReplicaConference(ConferenceRecorded):
    _id: str
    event_id: str


class ReplicaDeadline(DeadlineSet):
    _id: str
    event_id: str


class ClusterInForce(ReplicaYear):
    """A cluster in one period: its name, members, head and deputy."""

    name: str


REPLICA_DOCUMENTS = [RegistryUnitDoc, RegistryClusterDoc, RegistryConferenceDoc,
                     RegistryDeadlineDoc, RegistryMetaDoc]
GENERATION = "generation"


def active_in(unit: UnitRegistered, period: int) -> bool:
    start, end = unit.get("valid_from"), unit.get("valid_until")
    return (start is None or start <= period) and (end is None or end >= period)


def year_entry(cluster: ReplicaCluster | ClusterRegistered, period: int
               ) -> ReplicaYear | None:
    """A year with no entry of its own inherits the latest earlier year's members (not
    its head and deputy: they serve the year they were elected for); a cluster dissolved
    in a year has no entry from then on."""
    return _entry_in(cast("dict[str, ReplicaYear]", cluster.get("years", {})), period)


def _entry_in(years: dict[str, ReplicaYear], period: int) -> ReplicaYear | None:
    past = [int(y) for y in years if int(y) <= period]
    entry = years[str(max(past))] if past else None
    if entry is None or entry.get("dissolved"):
        return None
    if max(past) != period:
        # Every key but who leads: the schema lets a year carry keys beyond its own.
        return cast("ReplicaYear", {k: v for k, v in entry.items()
                                    if k not in ("head", "deputy", "conference")})
    return entry


def conference_key(cluster_id: str, period: int) -> str:
    """The record key of a cluster's conference reviewing `period` (registry topic)."""
    return f"{cluster_id}|conference|{period}"


def deadline_key(movement: str, period: int) -> str:
    """The record key of a movement's deadline set for `period` (registry topic)."""
    return f"{movement}|deadline|{period}"


def with_conferences(cluster: ReplicaCluster, conferences: list[ReplicaConference]
                     ) -> ReplicaCluster:
    """The cluster's registry record with what its conferences decided: the conference
    reviewing year P elects the head and deputy of P + 1, which is that year's entry's
    head and deputy (the one source of cluster leadership for every service), with the
    record (`conference`) that says when, where, who recorded it and what was agreed."""
    own = sorted((c for c in conferences if c.get("cluster_id") == cluster["_id"]),
                 key=lambda c: int(c["period"]))
    if not own:
        return cluster
    years = dict(cluster.get("years") or {})
    for conf in own:
        serves = int(conf["period"]) + 1
        entry = _entry_in(years, serves)
        if entry is None:
            continue  # dissolved, or not yet founded: nobody to lead
        elected: ReplicaYear = {**entry, "head": conf["head"], "deputy": conf.get("deputy"),
                                "conference": conf}
        years[str(serves)] = elected
    return {**cluster, "years": years}


class RegistryReplica:
    def __init__(self, db: Database) -> None:
        self.units_coll = db["registry_units"]
        self.clusters_coll = db["registry_clusters"]
        self.conferences_coll = db["registry_conferences"]
        self.deadlines_coll = db["registry_deadlines"]
        self.meta_coll = db["registry_meta"]
        self._unit_reads = ByIdReads(self.units_coll)  # a batch's records: one read
        # What this process holds: the generation token it was read under, and the
        # documents (shared with callers: read them, never change them).
        self._token: Any = None
        self._units: list[ReplicaUnit] | None = None
        self._clusters: list[ReplicaCluster] | None = None
        self._by_period: dict[int, list[ReplicaUnit]] = {}
        self._epoch = 0  # bumped whenever what is held is forgotten

    async def apply(self, event: Event) -> None:
        """Idempotent: the latest record of a key replaces the earlier one."""
        if event.type == UNIT_EVENT:
            coll, document = self.units_coll, RegistryUnitDoc
        elif event.type == CLUSTER_EVENT:
            coll, document = self.clusters_coll, RegistryClusterDoc
        elif event.type == CONFERENCE_EVENT:
            coll, document = self.conferences_coll, RegistryConferenceDoc
        elif event.type == DEADLINE_EVENT:
            # Read by `_id` when asked (`deadline`): nothing held to forget.
            await self.deadlines_coll.replace_one({"_id": event.subject}, validated(
                RegistryDeadlineDoc, {**event.data, "event_id": event.id}), upsert=True)
            return
        else:
            return
        self.forget()
        await coll.replace_one({"_id": event.subject}, validated(
            document, {**event.data, "event_id": event.id}), upsert=True)
        # After the write: a reader that saw the old token rereads; before it, a reader
        # could cache the old document under the new token.
        await self.meta_coll.replace_one(
            {"_id": GENERATION},
            validated(RegistryMetaDoc, {"_id": GENERATION, "token": uuid.uuid4().hex}),
            upsert=True)
        self.forget()

    def forget(self) -> None:
        self._units = self._clusters = None
        self._by_period = {}
        self._epoch += 1

    async def _fresh(self) -> None:
        """Forget what is held if any process changed the replica since it was read."""
        doc = await self.meta_coll.find_one({"_id": GENERATION})
        token = doc.get("token") if doc else None
        if token != self._token:
            self.forget()
            self._token = token

    async def generation(self) -> Any:
        """The replica's generation token (one read by `_id`): it changes whenever any
        process changes the replica. None while nothing was ever applied."""
        await self._fresh()
        return self._token

    async def all_units(self) -> list[ReplicaUnit]:
        await self._fresh()
        if self._units is None:
            epoch = self._epoch
            units = all_stored_as(ReplicaUnit, await self.units_coll.find({}).to_list(None))
            if epoch == self._epoch:  # nothing was applied or noticed while reading
                self._units = units
            return units
        return self._units

    async def units(self, period: int) -> list[ReplicaUnit]:
        everything = await self.all_units()
        cached = self._by_period.get(period)
        if cached is not None and self._units is everything:
            return cached
        found = sorted((u for u in everything if active_in(u, period)), key=lambda u: u["_id"])
        if self._units is everything:
            self._by_period[period] = found
        return found

    async def all_clusters(self) -> list[ReplicaCluster]:
        """Every cluster's record, with what its recorded conferences decided."""
        await self._fresh()
        if self._clusters is None:
            epoch = self._epoch
            raw = all_stored_as(ReplicaCluster, await self.clusters_coll.find({}).to_list(None))
            conferences = all_stored_as(
                ReplicaConference, await self.conferences_coll.find({}).to_list(None))
            clusters = [with_conferences(c, conferences) for c in raw]
            if epoch == self._epoch:
                self._clusters = clusters
            return clusters
        return self._clusters

    async def cluster_record(self, cluster_id: str) -> ReplicaCluster | None:
        """One cluster's record (`years`), with what its recorded conferences decided."""
        return next((c for c in await self.all_clusters() if c["_id"] == cluster_id), None)

    async def unit(self, unit_id: str) -> ReplicaUnit | None:
        return stored_as(ReplicaUnit, await self._unit_reads.get(unit_id))

    async def deadline(self, movement: str, period: int) -> ReplicaDeadline | None:
        """The deadline an operator set for the movement's period (submissions'
        `PUT /v1/movements/{movement}/deadlines/{period}`), or None: the default."""
        return stored_as(ReplicaDeadline, await self.deadlines_coll.find_one(
            {"_id": deadline_key(movement, period)}))

    async def clusters(self, period: int) -> dict[str, ClusterInForce]:
        """cluster id -> {name, members, head, deputy} in force for the period."""
        out: dict[str, ClusterInForce] = {}
        for c in await self.all_clusters():
            entry = year_entry(c, period)
            if entry is not None:
                out[c["_id"]] = {"name": c.get("name", c["_id"]), **entry}
        return out
