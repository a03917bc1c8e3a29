"""Meta's asynchronous Insights report runs and the sizing that decides when to use them.

Marketing API "Insights API -> Asynchronous jobs"
(developers.facebook.com/docs/marketing-api/insights/best-practices#asynchronous): POST
/act_{id}/insights answers `{"report_run_id"}`; GET /{report_run_id} reports the AdReportRun's
`async_status` ("Job Not Started", "Job Started", "Job Running", "Job Completed", "Job Failed",
"Job Skipped") and `async_percent_completion`; the rows are then paged from
GET /{report_run_id}/insights. A synchronous call Meta finds too big answers error_subcode
1487534 ("Please reduce the amount of data you're asking for") with code 100 or 1.
"""

from __future__ import annotations

import math
from typing import Final

from backend.providers.base import ProviderRequestError, ReportQuery

TOO_MUCH_DATA_SUBCODE: Final = 1487534
DONE: Final = "Job Completed"
FAILED: Final = frozenset({"Job Failed", "Job Skipped"})
# Rough rows per day of each level and per breakdown value: a guess of the answer's size,
# enough to send big reports the asynchronous way first instead of failing synchronously.
_LEVEL_ROWS: Final = {"account": 1, "campaign": 20, "adset": 80, "ad": 300}
_BREAKDOWN_ROWS: Final = {"age": 6, "gender": 3, "country": 30, "platform": 4, "device": 3}


class TooMuchData(ProviderRequestError):
    """Meta refused a synchronous Insights call as too big (subcode 1487534): run it async."""


def estimated_rows(query: ReportQuery) -> int:
    days = (query.until - query.since).days + 1 if query.time == "daily" else 1
    cells = math.prod(_BREAKDOWN_ROWS.get(b, 10) for b in query.breakdowns)
    return days * _LEVEL_ROWS.get(query.level, 1) * cells
