"""SMS text encoding and splitting (pure): GSM 03.38 when every character fits it,
otherwise UCS-2, which every Vietnamese text with diacritics needs.

Budgets per segment: GSM-7 160 characters alone, 153 per part of a concatenated
message; UCS-2 70 alone, 67 per part (the 6-octet UDH `05 00 03 ref total seq` takes
the rest of the 140 octets). A part never splits an escape pair or a surrogate pair."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7, UCS2 = 0x00, 0x08
UDHI = 0x40  # esm_class bit: the short message starts with a user data header
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C,
                  "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65}
_GSM_CODE = {c: i for i, c in enumerate(GSM7_BASIC) if c != "\x1b"}
SINGLE = {GSM7: 160, UCS2: 70}
PER_PART = {GSM7: 153, UCS2: 67}
MAX_PARTS = 255


@dataclass(frozen=True)
class SmsPart:
    data_coding: int
    esm_class: int
    short_message: bytes  # UDH (if any) + the encoded text, as submit_sm carries it
    text: str


def normalize(text: str) -> str:
    """NFC: precomposed Vietnamese letters are one UCS-2 unit each, not three."""
    return unicodedata.normalize("NFC", text)


def is_gsm7(text: str) -> bool:
    return all(c in _GSM_CODE or c in GSM7_EXTENSION for c in text)


def coding_of(text: str) -> int:
    return GSM7 if is_gsm7(normalize(text)) else UCS2


def _units(char: str, coding: int) -> int:
    """Length of one character in the coding's units (septets or UTF-16 code units)."""
    if coding == GSM7:
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def length(text: str, coding: int | None = None) -> int:
    text = normalize(text)
    coding = coding_of(text) if coding is None else coding
    return sum(_units(c, coding) for c in text)


def split(text: str) -> tuple[int, list[str]]:
    """(coding, the texts of the parts): one part if it fits a single segment."""
    text = normalize(text)
    coding = coding_of(text)
    if length(text, coding) <= SINGLE[coding]:
        return coding, [text]
    parts: list[str] = []
    current, used = "", 0
    for char in text:
        size = _units(char, coding)
        if used + size > PER_PART[coding]:
            parts.append(current)
            current, used = "", 0
        current += char
        used += size
    if current:
        parts.append(current)
    if len(parts) > MAX_PARTS:
        raise ValueError(f"an SMS of {len(parts)} parts is over the limit of {MAX_PARTS}")
    return coding, parts


def segments(text: str) -> int:
    return len(split(text)[1])


def encode_text(text: str, coding: int) -> bytes:
    if coding == UCS2:
        return text.encode("utf-16-be")
    out = bytearray()
    for char in text:
        if char in GSM7_EXTENSION:
            out += bytes((0x1B, GSM7_EXTENSION[char]))
        else:
            out.append(_GSM_CODE[char])
    return bytes(out)  # unpacked: one septet per octet, as SMPP carries it


def decode_text(data: bytes, coding: int) -> str:
    if coding == UCS2:
        return data.decode("utf-16-be")
    ext = {v: k for k, v in GSM7_EXTENSION.items()}
    out, escape = [], False
    for octet in data:
        if escape:
            out.append(ext.get(octet, "?"))
            escape = False
        elif octet == 0x1B:
            escape = True
        else:
            out.append(GSM7_BASIC[octet & 0x7F])
    return "".join(out)


def encode(text: str, reference: int) -> list[SmsPart]:
    """The submit_sm payloads of one SMS; `reference` (0-255) ties the parts together."""
    coding, texts = split(text)
    if len(texts) == 1:
        return [SmsPart(coding, 0x00, encode_text(texts[0], coding), texts[0])]
    total = len(texts)
    return [
        SmsPart(coding, UDHI,
                bytes((0x05, 0x00, 0x03, reference & 0xFF, total, seq))
                + encode_text(part, coding), part)
        for seq, part in enumerate(texts, start=1)
    ]
