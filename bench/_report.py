"""The 100,000-row report payload of bench/report_load.py and bench/ui_stall.py: ad-level, daily
(campaign_id/_name, adset_id/_name, ad_id/_name, date and the metrics), the first 100,000 rows of
Demo Ads' benchmark account act_1099, as the backend's JSON bytes, built with the backend's own
report code (bench/_report_scale.py: sandbox hierarchy rows -> Demo adapter -> reports.shape) and
cached in the temp folder under its own name (the campaign-level payload of earlier rounds was
`connected-accounts-bench-report-100k.json`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench._report_scale import ad_level_bytes

ROWS = 100_000
CACHE = Path(tempfile.gettempdir()) / "connected-accounts-bench-report-100k-ad-daily.json"


def report_bytes() -> bytes:
    return ad_level_bytes(ROWS, CACHE)
