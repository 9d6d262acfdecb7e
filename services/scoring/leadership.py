"""Who heads an emulation cluster next year: a rotation rule over the registry's member
order, anchored on what is known (an operator's decision, or the registry's head and
deputy for a year it lists). Plain functions; docs/scoring.md, "Cluster leadership"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from services.common.registry_replica import ReplicaYear

RULE = ("rotation-v1: the previous year's deputy becomes head; the member after the new "
        "head in the registry's member order for the year served becomes deputy, skipping "
        "the outgoing head; without a deputy to move up, the member after the previous head "
        "takes over; without any known leadership, the first two members")
SUGGESTED, CONFIRMED, OVERRIDDEN = "suggested", "confirmed", "overridden"
# Suggestions chain year by year from the last known one; no cluster is older than this.
MAX_CHAIN_YEARS = 200


class Pair(NamedTuple):
    """A cluster's head and deputy for one year (a cluster of one has no deputy)."""
    head: str
    deputy: str | None


class Known(NamedTuple):
    """Leadership known for a year, and from where ("registry" or an operator's decision)."""
    pair: Pair
    source: str


class Suggestion(NamedTuple):
    pair: Pair
    basis: str  # why, in words: the anchor year and how many rotations followed


def rotate(previous: Pair | None, members: Sequence[str]) -> Pair | None:
    """The head and deputy after `previous`, among `members` (rotation order)."""
    if not members:
        return None
    order = list(dict.fromkeys(members))
    if previous is None:
        return Pair(order[0], order[1] if len(order) > 1 else None)
    if previous.deputy in order and previous.deputy != previous.head:
        head = previous.deputy
    elif previous.head in order:
        head = order[(order.index(previous.head) + 1) % len(order)]
    else:
        head = order[0]
    start = order.index(head)
    after = [order[(start + i) % len(order)] for i in range(1, len(order))]
    deputy = next((m for m in after if m != previous.head), None)
    if deputy is None:
        deputy = after[0] if after else None  # a two-member cluster: the outgoing head
    return Pair(head, deputy)


def members_in(years: Mapping[str, ReplicaYear | None], year: int) -> list[str] | None:
    """The members for `year` from a registry cluster record's `years` (a year without
    an entry inherits the latest earlier one); None before the cluster exists."""
    known = [int(y) for y in years if int(y) <= year]
    if not known:
        return None
    entry = years[str(max(known))]
    return (list(entry.get("members") or []) or None) if entry else None


def registry_known(years: Mapping[str, ReplicaYear | None]) -> dict[int, Known]:
    """The registry's own head and deputy, for the years it lists with a head."""
    out = {}
    for y, entry in years.items():
        head = entry.get("head") if entry else None
        if entry and head:
            source = "conference" if entry.get("conference") else "registry"
            out[int(y)] = Known(Pair(head, entry.get("deputy")), source)
    return out


def suggest(year: int, years: Mapping[str, ReplicaYear | None], known: Mapping[int, Known]
            ) -> Suggestion | None:
    """The rule's head and deputy for `year`, rotating forward from the latest known
    year before it (each year in between as if its suggestion had been followed)."""
    if members_in(years, year) is None:
        return None
    earlier = [y for y in known if y < year]
    if earlier:
        anchor = max(earlier)
        pair: Pair | None = known[anchor].pair
        basis = (f"{anchor}: head {known[anchor].pair.head}, deputy "
                 f"{known[anchor].pair.deputy or 'none'} ({known[anchor].source})")
    else:
        first = min(int(y) for y in years)
        anchor, pair = first, rotate(None, members_in(years, first) or [])
        basis = f"no known leadership: the first two members of {first}"
        if anchor == year:
            return Suggestion(pair, basis) if pair else None
    if year - anchor > MAX_CHAIN_YEARS:
        raise ValueError(f"no known leadership within {MAX_CHAIN_YEARS} years of {year}")
    for y in range(anchor + 1, year + 1):
        pair = rotate(pair, members_in(years, y) or [])
    if pair is None:
        return None
    steps = year - anchor
    if steps > 1:
        basis += f"; rotated {steps} times"
    return Suggestion(pair, basis)
