"""Shipped column mappings for other systems' exports (see intake.retro.mapping for the format)."""

from pathlib import Path

HERE = Path(__file__).parent
SYNTHEA = HERE / "synthea.json"  # Synthea's CSV export: immunizations.csv + patients.csv
