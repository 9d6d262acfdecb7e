"""What the tests of rendered reports share: the fonts, a PDF's text."""

from __future__ import annotations

import io
import unicodedata

import pytest
from pypdf import PdfReader

from services.reporting.settings import ReportingSettings

FONTS = ReportingSettings().pdf_font_dir


needs_font = pytest.mark.skipif(not (FONTS / "DejaVuSans.ttf").exists(),
                                reason=f"no DejaVu fonts in {FONTS} (apt-get install "
                                       "fonts-dejavu-core)")


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    return unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in reader.pages))
