"""The API client's typed answers: parsed once from the JSON, read as attributes by the views."""

from __future__ import annotations

from datetime import date

from desktop.api.answers import Column, DisconnectOutcome, Provider, ReportHeader
from desktop.models.connection import Connection


def test_a_provider_reads_as_attributes_and_keeps_the_body_for_json_output() -> None:
    body = {"id": "demo", "display_name": "Demo Ads", "kind": "demo", "scopes": ["ads_read"],
            "redirect": "loopback"}  # fmt: skip
    provider = Provider.from_api(body)
    assert (provider.id, provider.display_name, provider.scopes) == (
        "demo",
        "Demo Ads",
        ("ads_read",),
    )
    assert provider.redirect == "loopback"
    assert provider.body == body


def test_a_disconnect_outcome_says_what_was_revoked() -> None:
    outcome = DisconnectOutcome.from_api(
        {
            "connection_id": "c1",
            "provider": "demo",
            "revoked": [],
            "not_revoked": ["refresh_token"],
            "revocation_pending": True,
            "message": " Demo Ads did not answer. ",
        }  # fmt: skip
    )
    assert outcome.revocation_pending
    assert outcome.not_revoked == ("refresh_token",)
    assert outcome.message == "Demo Ads did not answer."


def test_a_report_header_is_typed_and_leaves_the_rows_alone() -> None:
    report = {
        "account": {"id": "act_1", "name": "Shop", "currency": "EUR", "time_zone": "UTC"},
        "since": "2026-11-01", "until": "2026-11-07", "level": "campaign",
        "columns": [{"key": "date", "label": "Date", "type": "date"},
                    {"key": "spend", "label": "Spend", "type": "money"}],
        "rows": [["2026-11-01", "1.00"]],
        "totals": {"spend": "1.00"},
    }  # fmt: skip
    header = ReportHeader.from_api(report)
    assert header.account.name == "Shop"
    assert header.account.currency == "EUR"
    assert (header.since, header.until) == (date(2026, 11, 1), date(2026, 11, 7))
    assert header.level == "campaign"
    assert header.columns == (Column("date", "Date", "date"), Column("spend", "Spend", "money"))
    assert header.totals == {"spend": "1.00"}
    assert not hasattr(header, "rows")


def test_a_connection_keeps_the_body_it_was_parsed_from_out_of_equality() -> None:
    body = {"id": "c1", "provider": "demo", "status": "connected", "display_name": "Dana"}
    one, other = Connection.from_api(body), Connection.from_api({**body, "extra": 1})
    assert one == other  # the same connection as far as the views can tell
    assert one.body == body
    assert "extra" not in repr(other)
