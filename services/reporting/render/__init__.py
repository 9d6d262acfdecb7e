"""The reports in the formats people open: CSV, XLSX, PDF and a printable HTML page."""
