"""Each collection's mongoengine class: what it refuses, that it still reads the
documents stored before (tests/fixtures/stored/<service>/<collection>.json, one stored
document of each collection as the code wrote it), and that docs/architecture.md shows
what the classes declare."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import mongoengine as me
import pytest

from services.common.schema import (
    IntField,
    SchemaError,
    validated,
    validated_set,
    validated_update,
)
from services.notifications.schema import LedgerDoc, PeriodStatusDoc
from services.reporting.schema import ReportDoc
from services.schema_docs import PAGE, SERVICES, updated
from services.scoring.schema import ScoreDoc, ScoreHistoryDoc
from services.submissions.schema import SubmissionHeadDoc
from tests.unit.store_documents import STORED, stored

COLLECTIONS = sorted({(service, d._meta["collection"], d) for service, docs in SERVICES.items()
                      for d in docs}, key=lambda x: (x[0], x[1]))


def score(**changes: Any) -> dict[str, Any]:
    return {**stored("scoring", "score_history"), **changes}


def test_the_architecture_page_shows_the_collections_the_classes_declare() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert page == updated(page), (
        "docs/architecture.md is stale: python -m services.schema_docs")
    for _, collection, document in COLLECTIONS:
        assert f"| `{collection}` | `{document.__module__}.{document.__name__}` |" in page


@pytest.mark.parametrize(("service", "collection", "document"), COLLECTIONS,
                         ids=[f"{s}.{c}" for s, c, _ in COLLECTIONS])
def test_every_collection_still_reads_its_stored_document(
        service: str, collection: str, document: Any) -> None:
    """A schema change that would refuse a document stored by earlier code (a new
    required field without a default, a narrowed type, a removed choice) fails here."""
    doc = stored(service, collection)
    assert validated(document, doc) is doc
    # and the fixture is one of this collection's: fields it declares besides `_id`
    declared = {f.db_field for f in document._fields.values()} - {"_id"}
    assert declared & set(doc), (collection, sorted(doc))


def test_no_fixture_is_left_without_its_collection() -> None:
    known = {(s, c) for s, c, _ in COLLECTIONS}
    files = {(p.parent.name, p.stem) for p in STORED.glob("*/*.json")}
    assert files == known, {"without a class": files - known, "without a fixture": known - files}


def changed(document: Any, **fields: Any) -> Any:
    """`document`'s class as a schema change would make it (another name, same fields
    but `fields`)."""
    declared = {name: copy.deepcopy(f) for name, f in document._fields.items()}
    return type(f"Changed{document.__name__}", (me.Document,), {
        **declared, **fields, "meta": dict(document._meta)})


def test_a_schema_change_that_would_not_read_the_stored_documents_fails() -> None:
    old = stored("scoring", "score_history")
    with pytest.raises(SchemaError, match="weight"):  # a new required field
        validated(changed(ScoreHistoryDoc, weight=IntField(required=True)), old)
    with pytest.raises(SchemaError, match="total"):  # a narrowed type
        validated(changed(ScoreHistoryDoc, total=IntField(required=True)), old)
    with pytest.raises(SchemaError, match="status"):  # a removed choice
        validated(changed(LedgerDoc, status=me.StringField(choices=("sending",))),
                  stored("notifications", "ledger"))
    # a default, or an optional field, reads them
    validated(changed(ScoreHistoryDoc, weight=IntField(required=True, default=1)), old)
    validated(changed(ScoreHistoryDoc, weight=IntField()), old)


@pytest.mark.parametrize("changes", [
    {"period": "2026"},  # mongoengine's own IntField would take it
    {"period": True},
    {"revision": 0},
    {"unit_id": None},
    {"on_time": "yes"},
    {"total": "80"},
    {"breakdown": "P1"},
    {"scored_at": datetime(2026, 1, 1, tzinfo=UTC)},  # kept as the event's ISO text
], ids=repr)
def test_a_field_of_the_wrong_type_or_a_missing_one_is_refused(changes: dict[str, Any]
                                                                ) -> None:
    with pytest.raises(SchemaError) as raised:
        validated(ScoreHistoryDoc, score(**changes))
    assert raised.value.collection == "score_history"
    assert set(changes) <= set(raised.value.errors), raised.value.errors


def test_a_required_field_left_out_is_refused_and_an_undeclared_one_passes() -> None:
    doc = score()
    del doc["event_id"]
    with pytest.raises(SchemaError, match="event_id"):
        validated(ScoreHistoryDoc, doc)
    assert validated(ScoreHistoryDoc, score(added_by_a_newer_writer={"x": 1}))


def test_the_fields_an_update_sets_are_checked_by_their_declarations() -> None:
    current = {k: v for k, v in score().items() if k != "_id"}
    update = {"$setOnInsert": {"unit_id": current["unit_id"], "period": current["period"]},
              "$max": {"current": current}}
    assert validated_update(ScoreDoc, update) is update
    with pytest.raises(SchemaError, match="total"):  # inside an embedded document
        validated_update(ScoreDoc, {"$max": {"current": {**current, "total": "x"}}})
    with pytest.raises(SchemaError, match="on_time"):  # an embedded one's required field
        validated_update(ScoreDoc, {"$max": {"current": {**current, "on_time": None}}})
    with pytest.raises(SchemaError, match="status"):  # choices
        validated_set(LedgerDoc, {"status": "posted"}, "k")
    with pytest.raises(SchemaError, match="revision"):
        validated_update(SubmissionHeadDoc, {"$max": {"revision": "3"}})
    with pytest.raises(SchemaError, match=r"units\.a"):  # a map's value by its path
        validated_update(PeriodStatusDoc, {"$max": {"units.a": "yes"}})
    validated_update(PeriodStatusDoc, {"$set": {"period": 2026}, "$max": {"units.a": True}})
    with pytest.raises(SchemaError, match="first_received_at"):
        validated_update(ReportDoc, {"$min": {"first": {
            "first_revision": 1, "on_time": True, "first_received_at": "2026-01-01"}}})
    validated_set(LedgerDoc, {"touched_at": datetime.now(UTC), "not_declared": object()})


def test_mongoengine_document_classes_name_their_collection() -> None:
    for _, collection, document in COLLECTIONS:
        assert issubclass(document, me.Document)
        assert document._meta["collection"] == collection
        assert document._meta.get("strict") is False, collection
