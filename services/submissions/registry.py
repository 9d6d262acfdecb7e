"""The unit registry: which units report in which year, who succeeds whom, and MPS clusters.

Pure reference data read from the YAML files in ``registry_data/`` (``units*.yaml`` and
``clusters.yaml``); see ``docs/registry.md``. Periods are years. No Kafka, Mongo or HTTP
here: the service publishes ``Unit.to_dict()`` and ``ClusterYear.to_dict()`` to
``emulation.units.v1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from services.common import contracts

UNIT_TYPES = ("ministry", "province", "front", "organization", "individual", "police")
ORGANIZATION_KINDS = ("agency", "enterprise", "school")
LANGUAGES = ("vi", "en")
DATA_DIR = Path(__file__).with_name("registry_data")

_UNIT_ID = re.compile(r"^([a-z]+):[a-z0-9]+(?:-[a-z0-9]+)*$")
_CLUSTER_ID = re.compile(r"^mps-cluster-[1-9][0-9]*$")
_EMAIL = re.compile(r"^[^@\s]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")  # E.164
_UNIT_KEYS = {"id", "name", "name_en", "type", "from", "until", "successor", "supervisor",
              "organization_kind", "contacts"}


class RegistryError(ValueError):
    """The registry data is inconsistent; the message says where and why."""


@dataclass(frozen=True)
class Contacts:
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    language: str = "vi"


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name: str
    name_en: str
    type: str
    valid_from: int | None
    valid_until: int | None
    successor: str | None
    supervisor: str | None
    organization_kind: str | None
    contacts: Contacts

    def active_in(self, period: int) -> bool:
        """True if the unit exists (and reports) in ``period``; bounds are inclusive."""
        return ((self.valid_from is None or self.valid_from <= period)
                and (self.valid_until is None or period <= self.valid_until))

    def to_dict(self, clusters: dict[str, str] | None = None) -> contracts.UnitRegistered:
        """The unit as published (unit-registered.v1), with its cluster by period."""
        return {"unit_id": self.unit_id, "name": self.name, "name_en": self.name_en,
                "type": self.type, "valid_from": self.valid_from,
                "valid_until": self.valid_until, "successor": self.successor,
                "supervisor": self.supervisor, "organization_kind": self.organization_kind,
                "contacts": {"emails": list(self.contacts.emails),
                             "phones": list(self.contacts.phones),
                             "language": self.contacts.language},
                "clusters": clusters or {}}


@dataclass(frozen=True)
class ClusterYear:
    cluster_id: str
    name: str
    period: int
    members: tuple[str, ...]
    head: str | None
    deputy: str | None

    def to_dict(self) -> contracts.ClusterYear:
        """The year's entry as published (cluster-registered.v1)."""
        return {"members": list(self.members), "head": self.head, "deputy": self.deputy}


# Per cluster, its entries by year; None marks the year it was dissolved.
ClusterEntries = dict[str, dict[int, ClusterYear | None]]


class Registry:
    """Units and clusters, checked for consistency on construction."""

    def __init__(self, units: list[Unit], clusters: ClusterEntries) -> None:
        self._units: dict[str, Unit] = {}
        for u in units:
            if u.unit_id in self._units:
                raise RegistryError(f"duplicate unit id {u.unit_id!r}")
            self._units[u.unit_id] = u
        by_number = sorted(clusters.items(), key=lambda kv: int(re.sub(r"\D", "", kv[0]) or 0))
        self._clusters = {cid: dict(sorted(entries.items())) for cid, entries in by_number}
        for u in self._units.values():
            _check_unit(u, self._units)
        self._check_clusters()

    def units(self, period: int) -> list[Unit]:
        return [u for u in self.all_units() if u.active_in(period)]

    def all_units(self) -> list[Unit]:
        return sorted(self._units.values(), key=lambda u: u.unit_id)

    def unit(self, unit_id: str) -> Unit | None:
        return self._units.get(unit_id)

    def clusters(self, period: int) -> list[ClusterYear]:
        found = (self.cluster(cid, period) for cid in self._clusters)
        return [c for c in found if c is not None]

    def cluster(self, cluster_id: str, period: int) -> ClusterYear | None:
        """The cluster's entry for ``period``, its members inherited from the latest
        earlier entry. A head and deputy serve the year they were elected for: a later
        year without an entry of its own has none until its conference is recorded."""
        years = [y for y in self._clusters.get(cluster_id, {}) if y <= period]
        entry = self._clusters[cluster_id][years[-1]] if years else None
        if entry is None:
            return None
        if years[-1] != period:
            return replace(entry, period=period, head=None, deputy=None)
        return replace(entry, period=period)

    def cluster_of(self, unit_id: str, period: int) -> str | None:
        """The cluster holding ``unit_id`` in ``period`` (no successor lookup)."""
        return next((c.cluster_id for c in self.clusters(period) if unit_id in c.members), None)

    def successor_in(self, unit_id: str, period: int) -> str | None:
        """The unit that answers for ``unit_id`` in ``period``: itself if active, else the
        active unit down its successor chain; None if there is none (or not yet founded)."""
        unit = self._units.get(unit_id)
        while unit is not None and not unit.active_in(period):
            # Terminates: a successor is active after its predecessor's 'until' (checked).
            if unit.valid_until is None or period <= unit.valid_until or unit.successor is None:
                return None
            unit = self._units.get(unit.successor)
        return None if unit is None else unit.unit_id

    def periods(self) -> list[int]:
        return sorted({y for entries in self._clusters.values() for y in entries})

    def _check_clusters(self) -> None:
        years = self.periods()
        if not years:
            return
        # After the last entry or unit boundary nothing changes, so checking up to it suffices.
        bounds = [y for u in self._units.values()
                  for y in (u.valid_from, None if u.valid_until is None else u.valid_until + 1)
                  if y is not None]
        for period in range(years[0], max([*years, *bounds]) + 1):
            seen: dict[str, str] = {}
            for c in self.clusters(period):
                where = f"cluster {c.cluster_id} in {period}"
                for m in c.members:
                    u = self._units.get(m)
                    if u is None or u.type != "police" or not u.active_in(period):
                        raise RegistryError(f"{where}: {m!r} is not a police unit active then")
                    if m in seen:
                        raise RegistryError(f"{where}: {m!r} is already in {seen[m]}")
                    seen[m] = c.cluster_id
                for role in ("head", "deputy"):
                    who = getattr(c, role)
                    if who is not None and who not in c.members:
                        raise RegistryError(f"{where}: {role} {who!r} is not a member")
                if c.head is not None and c.head == c.deputy:
                    raise RegistryError(f"{where}: head and deputy are the same unit")


def load_registry(data_dir: Path | None = None) -> Registry:
    """Read ``units*.yaml`` and ``clusters.yaml`` from ``data_dir`` and check them."""
    data_dir = DATA_DIR if data_dir is None else Path(data_dir)
    unit_files = sorted(data_dir.glob("units*.yaml"))
    if not unit_files:
        raise RegistryError(f"{data_dir}: no units*.yaml file")
    units = [_parse_unit(raw, f"{path.name} #{i}")
             for path in unit_files for i, raw in enumerate(_read_list(path, "units"), 1)]
    cluster_file = data_dir / "clusters.yaml"
    clusters: ClusterEntries = {}
    if cluster_file.exists():
        for i, raw in enumerate(_read_list(cluster_file, "clusters"), 1):
            cid, entries = _parse_cluster(raw, f"clusters.yaml #{i}")
            if cid in clusters:
                raise RegistryError(f"clusters.yaml: duplicate cluster id {cid!r}")
            clusters[cid] = entries
    return Registry(units, clusters)


def _check_unit(u: Unit, units: dict[str, Unit]) -> None:
    where = f"unit {u.unit_id!r}"
    if u.type not in UNIT_TYPES:
        raise RegistryError(f"{where}: unknown type {u.type!r} (known: {', '.join(UNIT_TYPES)})")
    match = _UNIT_ID.match(u.unit_id)
    if match is None or match.group(1) != u.type:
        raise RegistryError(f"{where}: id must be '{u.type}:<slug>', slug lower-case, hyphenated")
    if (u.type == "organization") != (u.organization_kind in ORGANIZATION_KINDS):
        raise RegistryError(f"{where}: organization_kind must be one of {ORGANIZATION_KINDS} "
                            "for organizations and absent otherwise")
    if u.valid_from is not None and u.valid_until is not None and u.valid_from > u.valid_until:
        raise RegistryError(f"{where}: 'from' {u.valid_from} is after 'until' {u.valid_until}")
    nxt = units.get(u.successor or "")
    if u.successor is not None and (u.valid_until is None or nxt is None
                                    or not nxt.active_in(u.valid_until + 1)):
        raise RegistryError(f"{where}: successor {u.successor!r} must exist and be active in the "
                            "year after this unit's 'until' (which must be set)")
    if u.supervisor is not None and u.supervisor not in units:
        raise RegistryError(f"{where}: unknown supervisor {u.supervisor!r}")
    bad = [e for e in u.contacts.emails if not _EMAIL.match(e)]
    bad += [p for p in u.contacts.phones if not _PHONE.match(p)]
    if bad:
        raise RegistryError(f"{where}: malformed contact(s) {bad} (phones must be E.164)")
    if u.contacts.language not in LANGUAGES:
        raise RegistryError(f"{where}: language must be one of {LANGUAGES}")


def _read_list(path: Path, key: str) -> list[Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path.name}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
        raise RegistryError(f"{path.name}: expected a top-level '{key}:' list")
    return list(doc[key])


def _get(raw: dict[str, Any], key: str, kind: type, where: str, required: bool = False) -> Any:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RegistryError(f"{where}: '{key}' must be a {kind.__name__}, got {value!r}")
    return value


def _strings(raw: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = raw.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RegistryError(f"{where}: '{key}' must be a list of strings (quote phone numbers)")
    return tuple(values)


def _parse_unit(raw: Any, where: str) -> Unit:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: expected a mapping")
    where = f"{where} ({raw.get('id')})"
    if unknown := sorted(set(raw) - _UNIT_KEYS):
        raise RegistryError(f"{where}: unknown key(s) {unknown}")
    contacts = _get(raw, "contacts", dict, where) or {}
    return Unit(
        unit_id=_get(raw, "id", str, where, True), name=_get(raw, "name", str, where, True),
        name_en=_get(raw, "name_en", str, where, True), type=_get(raw, "type", str, where, True),
        valid_from=_get(raw, "from", int, where), valid_until=_get(raw, "until", int, where),
        successor=_get(raw, "successor", str, where),
        supervisor=_get(raw, "supervisor", str, where),
        organization_kind=_get(raw, "organization_kind", str, where),
        contacts=Contacts(emails=_strings(contacts, "emails", where),
                          phones=_strings(contacts, "phones", where),
                          language=_get(contacts, "language", str, where) or "vi"),
    )


def _parse_cluster(raw: Any, where: str) -> tuple[str, dict[int, ClusterYear | None]]:
    if not isinstance(raw, dict) or not isinstance(raw.get("years"), dict):
        raise RegistryError(f"{where}: expected a mapping with 'id', 'name' and 'years'")
    cid = _get(raw, "id", str, where, True)
    if _CLUSTER_ID.match(cid) is None:
        raise RegistryError(f"{where}: cluster id {cid!r} must look like 'mps-cluster-<n>'")
    name = _get(raw, "name", str, where, True)
    entries: dict[int, ClusterYear | None] = {}
    for year, entry in raw["years"].items():
        at = f"{where} ({cid} {year})"
        if not isinstance(year, int) or not isinstance(entry, dict):
            raise RegistryError(f"{at}: years must map a year to a mapping")
        if entry.get("dissolved") is True:
            entries[year] = None
            continue
        members = _strings(entry, "members", at)
        if not members:
            raise RegistryError(f"{at}: no members (write 'dissolved: true' to end a cluster)")
        entries[year] = ClusterYear(
            cluster_id=cid, name=name, period=year, members=members,
            head=_get(entry, "head", str, at), deputy=_get(entry, "deputy", str, at))
    return cid, entries
