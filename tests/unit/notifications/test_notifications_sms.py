"""The SMS splitter: GSM-7 when it can, UCS-2 for Vietnamese; 160/153 and 70/67
characters per segment; UDH on every part; never a pair split across parts."""

from __future__ import annotations

import unicodedata

import pytest

from services.notifications import sms

VI = "Công an tỉnh Quảng Ninh: còn 7 ngày đến hạn nộp báo cáo thi đua năm 2040."


def test_vietnamese_needs_ucs2_and_english_fits_gsm7() -> None:
    assert sms.coding_of(VI) == sms.UCS2
    assert sms.coding_of("Lang Son Provincial Police: 7 days left.") == sms.GSM7
    assert sms.coding_of("price 10€ [ok]") == sms.GSM7  # extension table
    assert sms.coding_of("a – b") == sms.UCS2  # en dash is not GSM


@pytest.mark.parametrize("n, parts", [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_boundaries(n: int, parts: int) -> None:
    assert sms.segments("ệ" * n) == parts


@pytest.mark.parametrize("n, parts", [(160, 1), (161, 2), (306, 2), (307, 3)])
def test_gsm7_boundaries(n: int, parts: int) -> None:
    assert sms.segments("a" * n) == parts


def test_gsm7_extension_characters_count_twice_and_stay_whole() -> None:
    assert sms.length("€" * 80) == 160 and sms.segments("€" * 80) == 1
    coding, parts = sms.split("a" + "€" * 80)  # 161 septets: two parts
    assert coding == sms.GSM7 and len(parts) == 2
    assert all(sms.length(p, sms.GSM7) <= 153 for p in parts)
    assert "".join(parts) == "a" + "€" * 80


def test_decomposed_text_is_normalised_before_counting() -> None:
    decomposed = unicodedata.normalize("NFD", "ệ" * 70)
    assert len(decomposed) == 210
    assert sms.segments(decomposed) == 1


def test_a_surrogate_pair_is_never_split() -> None:
    text = "ệ" * 66 + "😀" + "ệ" * 10  # the emoji takes 2 UTF-16 units, at the boundary
    coding, parts = sms.split(text)
    assert coding == sms.UCS2
    assert parts[0] == "ệ" * 66 and parts[1].startswith("😀")
    assert all(sms.length(p, sms.UCS2) <= 67 for p in parts)


def test_parts_carry_a_udh_and_decode_back_to_the_text() -> None:
    text = VI * 2
    parts = sms.encode(text, reference=0xAB)
    assert len(parts) == 3
    for seq, part in enumerate(parts, start=1):
        assert part.esm_class == sms.UDHI and part.data_coding == sms.UCS2
        assert part.short_message[:6] == bytes((5, 0, 3, 0xAB, 3, seq))
        assert len(part.short_message) <= 140
    decoded = "".join(sms.decode_text(p.short_message[6:], sms.UCS2) for p in parts)
    assert decoded == unicodedata.normalize("NFC", text)


def test_a_single_segment_has_no_udh() -> None:
    [part] = sms.encode("Hello [world]", reference=1)
    assert part.esm_class == 0 and part.data_coding == sms.GSM7
    assert part.short_message == b"Hello \x1b<world\x1b>"
    assert sms.decode_text(part.short_message, sms.GSM7) == "Hello [world]"
