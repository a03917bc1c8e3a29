"""The reports endpoint's query string, read by params_from_query (not FastAPI's per-parameter
validation): lengths, counts and the flag are checked in words, and the values reach
parse_params as FastAPI handed them before (the last of a repeated single value)."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import FastAPI, Query
from starlette.datastructures import QueryParams

from backend.errors import InvalidRequest
from backend.reports.endpoints import router
from backend.reports.params import MAX_VALUES, QUERY, params_from_query


def read(query: str):  # type: ignore[no-untyped-def]
    q = QueryParams(query)
    return params_from_query(q, q.getlist)


def test_values_reach_the_report_params() -> None:
    p = read("account=act_1&account=act_2,act_3&since=2026-11-01&until=2026-11-02"
             "&level=campaign&breakdowns=country&time=total&metrics=spend,clicks")  # fmt: skip
    assert p.accounts == ("act_1", "act_2", "act_3")
    assert (str(p.since), str(p.until)) == ("2026-11-01", "2026-11-02")
    assert (p.level, p.breakdowns, p.time) == ("campaign", ("country",), "total")
    assert set(p.metrics) == {"spend", "clicks"}


def test_a_repeated_single_value_counts_once_the_last_wins() -> None:
    assert read("level=account&level=campaign").level == "campaign"


@pytest.mark.parametrize(("flag", "value"), [("true", True), ("1", True), ("False", False),
                                         ("off", False)])  # fmt: skip
def test_all_accounts_reads_the_usual_spellings(flag: str, value: bool) -> None:
    assert read(f"all_accounts={flag}").all_accounts is value


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("all_accounts=maybe", "'all_accounts' must be true or false"),
        ("since=" + "2" * 201, "'since' is too long: at most 200 characters"),
        ("metrics=" + "a" * 501, "'metrics' is too long: at most 500 characters"),
        ("&".join(f"account=a{i}" for i in range(51)), "at most 50 ad accounts"),
        ("&".join("breakdowns=x" for _ in range(201)), "'breakdowns' is given too often"),
        ("level=weekly", "'level' must be one of"),
    ],
)
def test_bad_queries_are_refused_in_words(query: str, words: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        read(query)
    assert words in str(refused.value)


# The annotations below are strings (PEP 563): FastAPI resolves them in this module's globals.
_LONGEST = {name: size for name, _kind, size in QUERY}


def test_the_openapi_entries_are_what_fastapi_writes_for_the_same_signature() -> None:
    """The endpoint reads its query itself (params_from_query) but documents each parameter
    as FastAPI would from a declared signature with the same limits."""
    reference = FastAPI()

    @reference.get("/r")
    def declared(
        account: Annotated[list[str] | None, Query(max_length=MAX_VALUES)] = None,
        all_accounts: bool = False,
        since: Annotated[str | None, Query(max_length=_LONGEST["since"])] = None,
        until: Annotated[str | None, Query(max_length=_LONGEST["until"])] = None,
        preset: Annotated[str | None, Query(max_length=_LONGEST["preset"])] = None,
        level: Annotated[str | None, Query(max_length=_LONGEST["level"])] = None,
        breakdowns: Annotated[list[str] | None, Query(max_length=MAX_VALUES)] = None,
        time: Annotated[str | None, Query(max_length=_LONGEST["time"])] = None,
        metrics: Annotated[str | None, Query(max_length=_LONGEST["metrics"])] = None,
        compare: Annotated[str | None, Query(max_length=_LONGEST["compare"])] = None,
    ) -> None:
        return None

    ours = FastAPI()
    ours.include_router(router)
    documented = ours.openapi()["paths"]["/v1/connections/{connection_id}/reports"]["get"]
    expected = reference.openapi()["paths"]["/r"]["get"]["parameters"]
    query = [p for p in documented["parameters"] if p["in"] == "query"]
    assert query == expected
