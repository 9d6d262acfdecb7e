from __future__ import annotations

from pathlib import Path

from services.common.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    mongo_db: str = "emulation_reporting"
    http_port: int = 8004
    # TrueType fonts with the Vietnamese glyphs for the PDFs (Debian: fonts-dejavu-core).
    pdf_font_dir: Path = Path("/usr/share/fonts/truetype/dejavu")
    # A rebuild that has not reached the end offsets by then fails (and says so).
    rebuild_timeout_seconds: float = 300.0
    # How often the dashboard page asks for new figures.
    dashboard_refresh_seconds: float = 3.0
