"""The cursor pagination helper (services/common/pagination.py) without a server: cursors
round-trip and refuse what they did not make, pages of a list in memory cover it once in
order, the MongoDB keyset filter selects what comes after a key, the Link header."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from services.common.pagination import (
    PAGED,
    PageRequest,
    Paging,
    decode_cursor,
    encode_cursor,
    keyset_filter,
    next_link,
    page_of_items,
)
from services.common.problems import Problem


def test_a_cursor_round_trips_and_is_url_safe() -> None:
    key = ("province:hà-nội", 2026, 3)
    cursor = encode_cursor(key)
    assert decode_cursor(cursor) == key
    assert all(ch.isalnum() or ch in "-_" for ch in cursor)


@pytest.mark.parametrize("cursor", ["***", "e30", "W10", "bnVsbA", "WyJhIiwgWzFdXQ"])
def test_a_cursor_it_did_not_make_is_a_400(cursor: str) -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(cursor)
    assert caught.value.status == 400


def walk(items: list[Any], key: Any, limit: int, descending: bool = False) -> list[list[Any]]:
    pages, after = [], None
    while True:
        page, after = page_of_items(items, key, PageRequest(limit, after),
                                    descending=descending)
        pages.append(page)
        if after is None:
            return pages
        assert len(pages) < 100


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 10, 11])
@pytest.mark.parametrize("descending", [False, True])
def test_pages_of_a_list_cover_it_once_in_order(limit: int, descending: bool) -> None:
    items = [{"id": f"u{n % 4}", "n": n} for n in range(10)]
    key = lambda i: (i["id"], i["n"])  # noqa: E731
    pages = walk(items, key, limit, descending)
    flat = [i for p in pages for i in p]
    assert flat == sorted(items, key=key, reverse=descending)
    assert all(len(p) == limit for p in pages[:-1]) and 0 < len(pages[-1]) <= limit


def test_an_item_added_during_the_walk_does_not_shift_the_pages() -> None:
    items = [{"id": n} for n in range(0, 20, 2)]
    key = lambda i: (i["id"],)  # noqa: E731
    first, after = page_of_items(items, key, PageRequest(3))
    items.insert(0, {"id": -1})  # before the cursor: not seen, nothing repeated
    items.append({"id": 99})
    rest, after = page_of_items(items, key, PageRequest(100, after))
    assert [i["id"] for i in first + rest] == [*range(0, 20, 2), 99]


def test_a_cursor_of_another_lists_key_is_a_400() -> None:
    with pytest.raises(Problem):
        page_of_items([{"p": 1}], lambda i: (i["p"],), PageRequest(5, ("text",)))
    with pytest.raises(Problem):
        keyset_filter(("period", "_id"), (2026,))


def test_the_keyset_filter_selects_what_comes_after_the_key() -> None:
    docs = [{"period": p, "revision": r, "_id": f"{p}-{r}"}
            for p in (2025, 2026) for r in (1, 2, 3)]
    fields = ("period", "revision", "_id")
    flt = keyset_filter(fields, (2025, 3, "2025-3"))

    def matches(doc: dict[str, Any], clause: dict[str, Any]) -> bool:
        return all(doc[f] > v["$gt"] if isinstance(v, dict) else doc[f] == v
                   for f, v in clause.items())

    after = [d for d in docs if any(matches(d, c) for c in flt["$or"])]
    assert after == docs[3:]
    ordered = sorted(docs, key=lambda d: tuple(d[f] for f in fields))
    for a, b in pairwise(ordered):
        key = tuple(a[f] for f in fields)
        assert any(matches(b, c) for c in keyset_filter(fields, key)["$or"])


def test_the_link_header_and_openapi_of_a_paged_route() -> None:
    app = FastAPI()

    @app.get("/things", responses=PAGED)
    async def things(page: Paging, request: Request, response: Response,
                     kind: str = "x") -> list[int]:
        chosen, after = page_of_items(list(range(5)), lambda n: (n,), page)
        next_link(request, response, after, page.limit)
        return chosen

    client = TestClient(app)
    first = client.get("/things", params={"kind": "y", "limit": 2})
    assert first.json() == [0, 1]
    link = first.headers["link"]
    assert link.startswith("</things?") and link.endswith('>; rel="next"')
    assert "kind=y" in link and "limit=2" in link
    second = client.get(link[1:link.index(">")])
    assert second.json() == [2, 3]
    last = client.get(second.headers["link"][1:second.headers["link"].index(">")])
    assert last.json() == [4] and "link" not in last.headers
    assert client.get("/things", params={"limit": 0}).status_code == 422
    spec = client.get("/openapi.json").json()["paths"]["/things"]["get"]
    assert "Link" in spec["responses"]["200"]["headers"]
    assert {p["name"] for p in spec["parameters"]} >= {"limit", "cursor"}
