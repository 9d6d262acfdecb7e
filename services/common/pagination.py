"""Cursor pagination for the list endpoints: `limit` and an opaque `cursor` in, the page
and a `Link: <...>; rel="next"` header (RFC 8288) out. The response body keeps its shape
(a JSON array stays an array): the way to the next page is only in the header.

A cursor is the sort key of a page's last item, base64url-encoded JSON: the next page is
the items whose key comes after it, so a page never repeats or skips an item that was
there when the walk began, whatever is added meanwhile (keyset pagination). Two sources:
a MongoDB query (`page_of_query`, the key fields sorted and compared on the server) and a
list already in memory (`page_of_items`, for registries, rubrics and composed lists)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict, TypeVar

from fastapi import Depends, Query, Request, Response

from services.common.problems import Problem

# The default holds a whole registry year (up to ~160 units before the 2025 mergers), so
# clients written before pagination still get every unit in one answer.
DEFAULT_LIMIT, MAX_LIMIT = 200, 1000
MAX_CURSOR_CHARS = 2000
T = TypeVar("T")
Key = tuple[Any, ...]


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    after: Key | None = None  # the decoded cursor: the previous page's last key


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The key a cursor holds; a cursor this service did not make is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(key, list) or not key or not all(
            isinstance(v, str | int | float | bool) or v is None for v in key):
        raise invalid_cursor()
    return tuple(key)


def invalid_cursor() -> Problem:
    return Problem(400, "invalid-cursor", "the cursor is not one this list gave: start "
                   "again without it, and follow the Link header's rel=\"next\"")


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=(
        f"items per page (at most {MAX_LIMIT})"))] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS, description=(
        "opaque: taken from the previous page's `Link: <...>; rel=\"next\"` header"
    ))] = None,
) -> PageRequest:
    return PageRequest(limit, decode_cursor(cursor) if cursor else None)


Paging = Annotated[PageRequest, Depends(page_request)]

class HeaderDoc(TypedDict):
    """A response header as the OpenAPI document describes it."""
    description: str
    schema: dict[str, str]


NEXT_LINK: dict[str, HeaderDoc] = {"Link": {
    "description": "RFC 8288: `<url>; rel=\"next\"` when there is a next page (absent on "
                   "the last one); follow it as it is",
    "schema": {"type": "string"}}}
# A paged route's `responses=`, for the OpenAPI.
PAGED: dict[int | str, dict[str, Any]] = {
    200: {"headers": NEXT_LINK},
    400: {"description": "`invalid-cursor`: a cursor this list did not give"}}


def page_of_items(items: Sequence[T], key: Callable[[T], Key], page: PageRequest,
                  *, descending: bool = False) -> tuple[list[T], Key | None]:
    """One page of `items` (sorted here by `key`, unique per item) and the last item's
    key when more follow."""
    ordered = sorted(items, key=key, reverse=descending)
    if page.after is not None:
        after = page.after
        try:
            ordered = [i for i in ordered
                       if (key(i) < after if descending else key(i) > after)]
        except TypeError as exc:  # a cursor of another list: its key's types differ
            raise invalid_cursor() from exc
    chosen = ordered[:page.limit]
    return chosen, (key(chosen[-1]) if len(ordered) > page.limit else None)


def keyset_filter(fields: Sequence[str], after: Key) -> dict[str, Any]:
    """The MongoDB filter for "sort key (ascending on `fields`) after `after`"."""
    if len(after) != len(fields):
        raise invalid_cursor()
    clauses = []
    for i, name in enumerate(fields):
        clause: dict[str, Any] = {f: after[j] for j, f in enumerate(fields[:i])}
        clause[name] = {"$gt": after[i]}
        clauses.append(clause)
    return {"$or": clauses}


async def page_of_query(collection: Any, query: dict[str, Any], fields: Sequence[str],
                        page: PageRequest, projection: dict[str, Any] | None = None
                        ) -> tuple[list[dict[str, Any]], Key | None]:
    """One page of a collection's documents matching `query`, ascending on `fields`
    (which together must be unique: end them with `_id`; their values JSON strings or
    numbers, as they go into the cursor); reads `limit + 1` documents."""
    if page.after is not None:
        query = {"$and": [query, keyset_filter(fields, page.after)]}
    docs = await collection.find(query, projection).sort(
        [(f, 1) for f in fields]).limit(page.limit + 1).to_list(page.limit + 1)
    chosen = docs[:page.limit]
    more = len(docs) > page.limit
    return chosen, (tuple(chosen[-1].get(f) for f in fields) if more else None)


def next_link(request: Request, response: Response, after: Key | str | None,
              limit: int) -> None:
    """Set the `Link` header to the next page, if there is one: the request's own URL
    with `cursor` (and `limit`) replaced."""
    if after is None:
        return
    cursor = after if isinstance(after, str) else encode_cursor(after)
    url = request.url.include_query_params(cursor=cursor, limit=limit)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
