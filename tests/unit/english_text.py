"""What counts as an English sentence in a Vietnamese report: a run of four or more
words without diacritics, at least two of them common English words (Vietnamese words
without diacritics such as "an ninh" or "do" never make such a run)."""

from __future__ import annotations

import re

STOP_WORDS = frozenset("""
a about above after all among an and any are as at be been before below but by can
cannot could did do does each for from had has have he her his how if in into is it its
least less more most no not of on once only or other our out over own same she should so
some such than that the their them then there these they this those through to too under
until up very was we were what when where which while who whom why will with would you
your
""".split())  # noqa: SIM905 (a list to read)
_WORD = re.compile(r"[^\W\d_]+")


def english_runs(text: str, length: int = 4) -> list[str]:
    """Every run of `length` consecutive ASCII words with at least two English ones."""
    words = _WORD.findall(text)
    found = []
    for i in range(len(words) - length + 1):
        run = words[i:i + length]
        if all(w.isascii() for w in run) and \
                sum(w.lower() in STOP_WORDS for w in run) >= 2:
            found.append(" ".join(run))
    return found
