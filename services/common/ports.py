"""What the services ask of their collaborators: the database and the Kafka producer, as
protocols. The services' constructors take these, so the real pymongo database and
`EventProducer` fit, and so do the tests' in-memory fakes (tests/fakes/). Only the calls
the services make are here: add one when a service starts to use it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from services.common.envelope import Event

Document = dict[str, Any]


class WriteResult(Protocol):
    """An update's or a replacement's outcome (pymongo's UpdateResult)."""

    @property
    def matched_count(self) -> int: ...

    @property
    def modified_count(self) -> int: ...

    @property
    def upserted_id(self) -> Any: ...


class DeleteResult(Protocol):
    @property
    def deleted_count(self) -> int: ...


class Cursor(Protocol):
    def sort(self, key: Any, direction: Any = ..., /) -> Cursor: ...

    def limit(self, n: int, /) -> Cursor: ...

    async def to_list(self, length: int | None = ..., /) -> list[Document]: ...

    def __aiter__(self) -> AsyncIterator[Document]: ...


class Collection(Protocol):
    @property
    def name(self) -> str: ...

    async def find_one(self, filter: Mapping[str, Any], projection: Any = ..., /
                       ) -> Document | None: ...

    def find(self, filter: Mapping[str, Any], projection: Any = ..., /) -> Cursor: ...

    async def count_documents(self, filter: Mapping[str, Any], /) -> int: ...

    # pymongo takes any mapping as a document to write (a dict, a service's TypedDict).
    async def insert_one(self, document: Mapping[str, Any], /) -> object: ...

    async def insert_many(self, documents: Sequence[Mapping[str, Any]], /, *,
                          ordered: bool = ...) -> object: ...

    async def replace_one(self, filter: Mapping[str, Any], replacement: Mapping[str, Any],
                          /, upsert: bool = ...) -> WriteResult: ...

    async def update_one(self, filter: Mapping[str, Any], update: Mapping[str, Any],
                         /, upsert: bool = ...) -> WriteResult: ...

    async def delete_one(self, filter: Mapping[str, Any], /) -> DeleteResult: ...

    async def delete_many(self, filter: Mapping[str, Any], /) -> DeleteResult: ...

    async def bulk_write(self, requests: Sequence[Any], /, *, ordered: bool = ...
                         ) -> object: ...


class Database(Protocol):
    def __getitem__(self, name: str, /) -> Collection: ...

    async def drop_collection(self, name: str, /) -> object: ...


class Producer(Protocol):
    """Sends an event and returns once Kafka has it (raises KafkaUnavailable)."""

    async def send(self, topic: str, event: Event, key: str | None = None) -> None: ...


class BatchProducer(Producer, Protocol):
    """Also queues records and waits for their acknowledgements apart (group commits)."""

    async def send_nowait(self, topic: str, event: Event, key: str | None = None
                          ) -> asyncio.Future[Any]: ...

    async def confirm(self, topic: str, fut: asyncio.Future[Any]) -> None: ...
