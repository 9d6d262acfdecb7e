"""The unit registry: the shipped reference data and the loader's consistency checks."""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.submissions.registry import (
    DATA_DIR,
    Registry,
    RegistryError,
    load_registry,
)
from tests.checks import present

CLUSTER_4_2024 = {"police:quang-ninh", "police:phu-tho", "police:bac-ninh", "police:bac-giang",
                  "police:hoa-binh", "police:vinh-phuc"}
CLUSTER_4_2025 = {"police:phu-tho", "police:bac-ninh", "police:quang-ninh", "police:lang-son",
                  "police:thai-nguyen", "police:hung-yen"}
RESERVED_DOMAIN = re.compile(r"(^|\.)(example|example\.(com|net|org))$")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def ids(registry: Registry, period: int, unit_type: str) -> set[str]:
    return {u.unit_id for u in registry.units(period) if u.type == unit_type}


# --- counts -------------------------------------------------------------------------------

@pytest.mark.parametrize(("period", "expected"), [(2023, 63), (2024, 63), (2025, 34), (2030, 34)])
@pytest.mark.parametrize("unit_type", ["province", "police"])
def test_provinces_and_police_63_until_2024_then_34(
    registry: Registry, unit_type: str, period: int, expected: int
) -> None:
    assert len(ids(registry, period, unit_type)) == expected


@pytest.mark.parametrize(("period", "expected"), [(2024, 22), (2025, 17)])
def test_ministries_before_and_after_the_2025_restructuring(
    registry: Registry, period: int, expected: int
) -> None:
    assert len(ids(registry, period, "ministry")) == expected
    assert "ministry:public-security" in ids(registry, period, "ministry")
    assert "ministry:home-affairs" in ids(registry, period, "ministry")


def test_front_and_organizations(registry: Registry) -> None:
    fronts = ids(registry, 2025, "front")
    assert "front:vietnam-fatherland-front" in fronts and len(fronts) == 6
    orgs = [u for u in registry.units(2025) if u.type == "organization"]
    assert 6 <= len(orgs) <= 10
    assert {u.organization_kind for u in orgs} == {"agency", "enterprise", "school"}
    others = [u for u in registry.all_units() if u.type != "organization"]
    assert all(u.organization_kind is None for u in others)


def test_units_are_sorted_and_lookup_works(registry: Registry) -> None:
    listed = [u.unit_id for u in registry.units(2025)]
    assert listed == sorted(listed)
    unit = registry.unit("police:quang-ninh")
    assert unit is not None and unit.name == "Công an tỉnh Quảng Ninh"
    assert unit.supervisor == "ministry:public-security"
    assert registry.unit("province:atlantis") is None


# --- names and ids follow one convention ------------------------------------------------------

def ascii_slug(name: str) -> str:
    plain = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


def test_province_ids_are_ascii_slugs_of_their_vietnamese_names(registry: Registry) -> None:
    for unit in registry.all_units():
        if unit.type != "province":
            continue
        prefix = re.match(r"^(Tỉnh|Thành phố) ", unit.name)
        assert prefix, unit.name
        slug = {"ho-chi-minh": "ho-chi-minh-city"}.get(ascii_slug(unit.name[prefix.end():]))
        assert unit.unit_id == f"province:{slug or ascii_slug(unit.name[prefix.end():])}"


def test_police_mirror_provinces(registry: Registry) -> None:
    provinces = [u for u in registry.all_units() if u.type == "province"]
    for province in provinces:
        slug = province.unit_id.split(":", 1)[1]
        police = registry.unit(f"police:{slug}")
        assert police is not None, slug
        city = province.name.startswith("Thành phố ")
        assert police.name == ("Công an thành phố " if city else "Công an tỉnh ") + (
            province.name.removeprefix("Thành phố ").removeprefix("Tỉnh "))
        assert (police.valid_from, police.valid_until) == (province.valid_from,
                                                          province.valid_until)
        expected = province.successor and province.successor.replace("province:", "police:")
        assert police.successor == expected


def test_merged_provinces_end_in_2024_with_a_successor(registry: Registry) -> None:
    merged = [u for u in registry.all_units() if u.type == "province" and u.valid_until]
    assert len(merged) == 29
    assert all(u.valid_until == 2024 and u.successor for u in merged)


# --- successors ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("unit_id", "period", "expected"),
    [
        ("province:hoa-binh", 2025, "province:phu-tho"),
        ("police:hoa-binh", 2025, "police:phu-tho"),
        ("police:vinh-phuc", 2026, "police:phu-tho"),
        ("province:binh-duong", 2025, "province:ho-chi-minh-city"),
        ("police:ba-ria-vung-tau", 2025, "police:ho-chi-minh-city"),
        ("police:bac-giang", 2025, "police:bac-ninh"),
        ("ministry:transport", 2025, "ministry:construction"),
        ("ministry:planning-and-investment", 2025, "ministry:finance"),
        ("province:hoa-binh", 2024, "province:hoa-binh"),  # still active
        ("province:phu-tho", 2025, "province:phu-tho"),  # survivor answers for itself
        ("ministry:agriculture-and-environment", 2024, None),  # not founded yet
        ("province:atlantis", 2025, None),
    ],
)
def test_successor_in(registry: Registry, unit_id: str, period: int, expected: str | None) -> None:
    assert registry.successor_in(unit_id, period) == expected


# --- clusters -----------------------------------------------------------------------------------

def test_cluster_4_in_2024_is_the_six_provinces_of_the_seed(registry: Registry) -> None:
    cluster = registry.cluster("mps-cluster-4", 2024)
    assert cluster is not None
    assert set(cluster.members) == CLUSTER_4_2024 and len(cluster.members) == 6
    assert cluster.name == "Cụm thi đua số 4"


def test_cluster_4_in_2025_after_the_merger_with_head_and_deputy(registry: Registry) -> None:
    cluster = registry.cluster("mps-cluster-4", 2025)
    assert cluster is not None
    assert set(cluster.members) == CLUSTER_4_2025 and len(cluster.members) == 6
    assert (cluster.head, cluster.deputy) == ("police:phu-tho", "police:bac-ninh")


def test_cluster_4_in_2027_inherits_the_latest_members_not_its_leaders(
        registry: Registry) -> None:
    """Phú Thọ was elected head for 2025 (seed 004), not for every later year: a year's
    head and deputy come from that year's entry or its recorded conference (issue 14)."""
    elected = present(registry.cluster("mps-cluster-4", 2025))
    assert (elected.head, elected.deputy) == (
        "police:phu-tho", "police:bac-ninh")
    cluster = registry.cluster("mps-cluster-4", 2027)
    assert cluster is not None and cluster.period == 2027
    assert set(cluster.members) == CLUSTER_4_2025
    assert (cluster.head, cluster.deputy) == (None, None)
    assert registry.cluster_of("police:lang-son", 2027) == "mps-cluster-4"


@pytest.mark.parametrize("period", [2024, 2025, 2026, 2027])
def test_every_police_unit_is_in_exactly_one_cluster(registry: Registry, period: int) -> None:
    counts = Counter(m for c in registry.clusters(period) for m in c.members)
    assert set(counts) == ids(registry, period, "police")
    assert set(counts.values()) == {1}
    for unit_id in counts:
        assert registry.cluster_of(unit_id, period) is not None


def test_cluster_of_a_merged_unit_needs_its_successor(registry: Registry) -> None:
    assert registry.cluster_of("police:hoa-binh", 2024) == "mps-cluster-4"
    assert registry.cluster_of("police:hoa-binh", 2025) is None
    successor = registry.successor_in("police:hoa-binh", 2025)
    assert successor is not None and registry.cluster_of(successor, 2025) == "mps-cluster-4"


def test_dissolved_clusters_and_periods(registry: Registry) -> None:
    assert registry.cluster("mps-cluster-2", 2024) is not None
    assert registry.cluster("mps-cluster-2", 2025) is None
    assert len(registry.clusters(2024)) == 12 and len(registry.clusters(2025)) == 6
    assert registry.clusters(2023) == [] and registry.cluster("mps-cluster-4", 2023) is None
    assert registry.periods() == [2024, 2025, 2026]
    numbers = [int(c.cluster_id.rsplit("-", 1)[1]) for c in registry.clusters(2024)]
    assert numbers == sorted(numbers)


# --- contacts and payloads ------------------------------------------------------------------------

def test_every_unit_has_demo_contacts_only(registry: Registry) -> None:
    for unit in registry.all_units():
        assert unit.contacts.emails and unit.contacts.phones, unit.unit_id
        for email in unit.contacts.emails:
            assert RESERVED_DOMAIN.search(email.rsplit("@", 1)[1]), email
        for phone in unit.contacts.phones:
            assert re.fullmatch(r"\+8499\d{7}", phone), phone
    languages = Counter(u.contacts.language for u in registry.all_units())
    assert set(languages) == {"vi", "en"} and 2 <= languages["en"] <= 3


def test_phone_numbers_are_unique(registry: Registry) -> None:
    phones = [p for u in registry.all_units() for p in u.contacts.phones]
    assert len(phones) == len(set(phones))


def test_to_dict_is_json_ready(registry: Registry) -> None:
    unit = registry.unit("police:phu-tho")
    cluster = registry.cluster("mps-cluster-4", 2025)
    assert unit is not None and cluster is not None
    data = json.loads(json.dumps(unit.to_dict()))
    assert data["unit_id"] == "police:phu-tho" and data["type"] == "police"
    assert data["contacts"]["phones"] == list(unit.contacts.phones)
    assert json.loads(json.dumps(cluster.to_dict()))["members"] == list(cluster.members)


def test_default_data_dir_is_beside_the_module() -> None:
    assert DATA_DIR.name == "registry_data" and (DATA_DIR / "clusters.yaml").is_file()
    assert [u.unit_id for u in load_registry(DATA_DIR).all_units()] == [
        u.unit_id for u in load_registry().all_units()]


# --- validation on a small data set written to tmp_path -------------------------------------------

def _unit(uid: str, **extra: Any) -> dict[str, Any]:
    return {"id": uid, "name": uid, "name_en": uid, "type": uid.split(":")[0],
            "contacts": {"emails": ["a@b.example"], "phones": ["+84990000001"]}, **extra}


BASE: dict[str, Any] = {
    "units": [
        _unit("ministry:public-security"),
        _unit("police:a", until=2024, successor="police:b", **{"from": 2020}),
        _unit("police:b"),
        _unit("police:c"),
        _unit("province:a"),
    ],
    "clusters": [
        {"id": "mps-cluster-1", "name": "Cụm thi đua số 1",
         "years": {2024: {"members": ["police:a", "police:b"], "head": "police:a"},
                   2025: {"members": ["police:b"]}}},
        {"id": "mps-cluster-2", "name": "Cụm thi đua số 2",
         "years": {2024: {"members": ["police:c"]}}},
    ],
}


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    dump = {"allow_unicode": True, "sort_keys": False}
    (tmp_path / "units.yaml").write_text(yaml.safe_dump({"units": data["units"]}, **dump))
    (tmp_path / "clusters.yaml").write_text(yaml.safe_dump({"clusters": data["clusters"]}, **dump))
    return tmp_path


def test_small_data_set_loads(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, BASE))
    assert registry.successor_in("police:a", 2030) == "police:b"
    assert registry.successor_in("police:a", 2019) is None  # not founded: no successor either
    assert registry.cluster_of("police:c", 2030) == "mps-cluster-2"


def _units(data: dict[str, Any]) -> list[dict[str, Any]]:
    units: list[dict[str, Any]] = data["units"]
    return units


def _years(data: dict[str, Any], n: int) -> dict[int, dict[str, Any]]:
    years: dict[int, dict[str, Any]] = data["clusters"][n]["years"]
    return years


BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("duplicate id", lambda d: _units(d).append(_unit("police:c")), "duplicate unit id"),
    ("bad id", lambda d: _units(d).append(_unit("province:Quang Ninh")), "id must be"),
    ("unknown type", lambda d: _units(d).append(_unit("county:x")), "unknown type"),
    ("prefix", lambda d: _units(d)[4].update(type="police"), "id must be"),
    ("missing successor", lambda d: _units(d)[1].update(successor="police:zz"), "successor"),
    ("successor ends too", lambda d: _units(d)[2].update(until=2024), "successor"),
    ("successor, no until", lambda d: _units(d)[1].pop("until"), "successor"),
    ("until before from", lambda d: _units(d)[3].update({"from": 2026, "until": 2025}), "after"),
    ("organization kind", lambda d: _units(d).append(_unit("organization:x")), "kind"),
    ("typo key", lambda d: _units(d)[3].update(untill=2024), "unknown key"),
    ("unquoted phone", lambda d: _units(d)[3]["contacts"].update(phones=[84990000001]),
     "list of strings"),
    ("bad phone", lambda d: _units(d)[3]["contacts"].update(phones=["0990000001"]), "E.164"),
    ("language", lambda d: _units(d)[3]["contacts"].update(language="fr"), "language"),
    ("unknown supervisor", lambda d: _units(d)[3].update(supervisor="ministry:x"), "supervisor"),
    ("member not police", lambda d: _years(d, 1)[2024]["members"].append("province:a"),
     "not a police unit"),
    ("member inactive", lambda d: _years(d, 0)[2025]["members"].append("police:a"),
     "not a police unit"),
    ("inherited member inactive", lambda d: _years(d, 0).pop(2025), "in 2025: 'police:a'"),
    ("two clusters", lambda d: _years(d, 1)[2024]["members"].append("police:b"), "already in"),
    ("head not member", lambda d: _years(d, 1)[2024].update(head="police:a"), "not a member"),
    ("deputy is head", lambda d: _years(d, 0)[2024].update(deputy="police:a"), "same unit"),
    ("empty cluster", lambda d: _years(d, 1)[2024].update(members=[]), "no members"),
    ("cluster id", lambda d: d["clusters"][1].update(id="cluster-2"), "mps-cluster"),
    ("duplicate cluster", lambda d: d["clusters"][1].update(id="mps-cluster-1"), "duplicate"),
]


@pytest.mark.parametrize(("mutate", "message"), [b[1:] for b in BREAKAGES],
                         ids=[b[0] for b in BREAKAGES])
def test_broken_data_is_rejected(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], object], message: str
) -> None:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(RegistryError, match=re.escape(message)):
        load_registry(write(tmp_path, data))


def test_missing_or_malformed_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no units"):
        load_registry(tmp_path)
    (tmp_path / "units.yaml").write_text("units: {not: a list}\n")
    with pytest.raises(RegistryError, match="top-level 'units:' list"):
        load_registry(tmp_path)
    (tmp_path / "units.yaml").write_text("units: [\n")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry(tmp_path)


def test_published_clusters_say_when_they_are_dissolved() -> None:
    """Copies of the registry (scoring, notifications, reporting) must not keep a cluster
    dissolved in 2025 alive with its 2024 members."""
    from services.common.envelope import parse_event
    from services.common.registry_replica import year_entry
    from services.submissions.publish_registry import registry_events

    registry = load_registry()
    clusters = {key: parse_event(ev.to_bytes()).data for key, ev in registry_events(registry)
                if key.startswith("mps-cluster-")}
    for period in (2024, 2025, 2026, 2031):
        alive = {cid for cid, data in clusters.items() if year_entry(data, period)}
        assert alive == {c.cluster_id for c in registry.clusters(period)}, period
