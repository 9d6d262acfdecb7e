"""Individuals (criterion group 5 of the plan), as identifiers: who answers for a person's
record and which person group it is under. An identifier table like `movements.py`.

An individual is no unit of the registry: a collective unit of `toan-dan` (a ministry, a
province, the Front or one of its organisations, an agency or enterprise) reports its
people's records under pseudonymous ids `individual:<unit type>-<unit slug>-<opaque>`
(`individual:province-quang-ninh-k7p2x9`), the opaque part the unit's own (no name, no
ID number: docs/submissions.md, "Individuals"). The id says which unit answers for it.

The plan's criterion group 5 has two person groups, one or the other, never both:
5a officers, soldiers and workers of the armed forces (rubric criterion I1), 5b other
subjects (I2). A record answers exactly one of the two in its self-assessment."""

from __future__ import annotations

import re

PREFIX = "individual:"
# The sponsor's type and slug, then the opaque part (6-32 lower-case letters and digits).
_ID = re.compile(r"^individual:(ministry|province|front|organization)-"
                 r"([a-z0-9]+(?:-[a-z0-9]+)*)-([a-z0-9]{6,32})$")
# Person group of the plan -> the rubric criterion that scores it.
GROUPS = {"5a": "I1", "5b": "I2"}
GROUP_OF_CRITERION = {c: g for g, c in GROUPS.items()}
GROUP_NAMES = {"5a": "Cán bộ, chiến sĩ, công nhân viên lực lượng vũ trang",
               "5b": "Các đối tượng khác"}


class PersonRecordError(ValueError):
    """A person's record that breaks the rules of group 5; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def is_individual(unit_id: str) -> bool:
    return unit_id.startswith(PREFIX)


def sponsor_of(unit_id: str) -> str:
    """The collective unit that answers for the person `unit_id`."""
    sponsor = sponsor_or_none(unit_id)
    if sponsor is None:
        raise PersonRecordError(
            "unit_id", f"{unit_id!r} is no person id: individual:<unit type>-<unit slug>-"
            "<opaque>, the unit one of ministry, province, front, organization and the "
            "opaque part 6-32 lower-case letters and digits (no name, no ID number)")
    return sponsor


def sponsor_or_none(unit_id: str) -> str | None:
    """The unit that reports `unit_id` if it is a person id, else None."""
    match = _ID.match(unit_id)
    return None if match is None else f"{match.group(1)}:{match.group(2)}"


def answers_for(unit_id: str, person_id: str) -> bool:
    """Whether `unit_id` is the unit that reports the person `person_id`."""
    return sponsor_or_none(person_id) == unit_id


def person_group(self_assessment: object) -> str:
    """5a or 5b: the one person group the record's self-assessment answers (I1 or I2)."""
    answered = sorted(c for c in (self_assessment if isinstance(self_assessment, dict)
                                  else {}) if c in GROUP_OF_CRITERION)
    if len(answered) != 1:
        said = f"answers {' and '.join(answered)}" if answered else "answers neither"
        raise PersonRecordError(
            "self_assessment",
            f"a person is in exactly one group of criterion 5: 5a (I1, officers, soldiers "
            f"and workers of the armed forces) or 5b (I2, other subjects); this record {said}")
    return GROUP_OF_CRITERION[answered[0]]


def group_or_none(self_assessment: object) -> str | None:
    """The person group of an accepted record, None if it breaks the rule (read models
    count what they are given; submissions and scoring refuse such a record)."""
    try:
        return person_group(self_assessment)
    except PersonRecordError:
        return None
