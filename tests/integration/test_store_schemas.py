"""Every collection's class on the real FerretDB: its indexes are created, and one
document of each collection (its stored fixture, checked first) is written by the async
pymongo client as the services write, read back equal and checked again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient

from services.common.mongo import connect_odm
from services.common.schema import SchemaError, validated
from services.schema_docs import SERVICES
from tests.stackfixture import Stack
from tests.unit.store_documents import stored

pytestmark = pytest.mark.integration


def test_each_collection_is_written_and_read_back_through_its_class(stack: Stack) -> None:
    async def write_and_read(service: str, documents: list[Any]) -> list[str]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            stack.cfg.mongo_url, tz_aware=True)
        db = client[f"test_schemas_{service}"]
        done = []
        try:
            for document in documents:
                collection = document._meta["collection"]
                doc = stored(service, collection)
                await db[collection].insert_one(validated(document, doc))
                back = await db[collection].find_one({"_id": doc["_id"]})
                assert back == doc, (collection, back, doc)
                assert validated(document, back) is back
                done.append(collection)
        finally:
            await client.drop_database(db.name)
            await client.close()
        return done

    for service, documents in SERVICES.items():
        # mongoengine creates each class's indexes on the real server, as at start-up
        connect_odm(stack.cfg.mongo_url, f"test_schemas_{service}", documents)
        written = asyncio.run(write_and_read(service, documents))
        assert written == [d._meta["collection"] for d in documents]


def test_a_document_that_does_not_match_is_not_written(stack: Stack) -> None:
    from services.scoring.schema import ScoreHistoryDoc

    client: MongoClient[dict[str, Any]] = MongoClient(stack.cfg.mongo_url, tz_aware=True)
    db = client["test_schemas_refused"]
    doc = {**stored("scoring", "score_history"), "period": "2081"}
    try:
        with pytest.raises(SchemaError, match="period"):
            db["score_history"].insert_one(validated(ScoreHistoryDoc, doc))
        assert db["score_history"].find_one({"_id": doc["_id"]}) is None
    finally:
        client.drop_database(db.name)
        client.close()
