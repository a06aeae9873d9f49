"""The outage breaker: open on a report, a reason to hold dispatch while open, closed by a recovery
report or by its own probe of the server; every outage recorded."""

import asyncio
from pathlib import Path

from serving.outage import OutageBreaker, http_probe
from tests.conftest import free_port


def test_a_report_opens_it_and_a_recovery_closes_it() -> None:
    breaker = OutageBreaker()
    assert asyncio.run(breaker.hold()) is None
    asyncio.run(breaker.down("APIConnectionError: Connection refused"))
    asyncio.run(breaker.down("APIConnectionError: again"))  # one outage, not two
    reason = asyncio.run(breaker.hold())
    assert reason is not None and reason.startswith("policy server down for ") and "again" in reason
    asyncio.run(breaker.up())
    assert asyncio.run(breaker.hold()) is None
    (outage,) = breaker.outages()
    assert outage.ended_at is not None and outage.error == "APIConnectionError: again"


def test_its_probe_closes_it_when_no_episode_is_left_to_report() -> None:
    server_up = False
    probes = 0

    async def probe() -> str | None:
        nonlocal probes
        probes += 1
        return None if server_up else "ConnectError: refused"

    breaker = OutageBreaker(probe, probe_every_s=0)
    asyncio.run(breaker.down("InternalServerError: 503"))
    assert asyncio.run(breaker.hold()) is not None and probes == 1
    server_up = True
    assert asyncio.run(breaker.hold()) is None and probes == 2
    assert breaker.current is None and len(breaker.outages()) == 1


def test_the_http_probe_reports_a_server_that_does_not_answer() -> None:
    error = asyncio.run(http_probe(f"http://127.0.0.1:{free_port()}/v1")())
    assert error is not None and "ConnectError" in error


def test_a_restarted_breaker_keeps_the_history_and_an_open_outage(tmp_path: Path) -> None:
    """What Ray's restart of the breaker actor does: a new instance from the same record file."""
    record = tmp_path / "outages.json"
    first = OutageBreaker(record=record)
    asyncio.run(first.down("InternalServerError: 503"))
    asyncio.run(first.up())
    asyncio.run(first.down("APIConnectionError: refused"))
    again = OutageBreaker(record=record)  # the crash: nothing in memory survives
    assert [o.error for o in again.outages()] == ["InternalServerError: 503", "APIConnectionError: refused"]
    reason = asyncio.run(again.hold())
    assert reason is not None and "refused" in reason, "still open: dispatching stays held"
    asyncio.run(again.up())
    assert all(o.ended_at is not None for o in OutageBreaker(record=record).outages())
    record.write_text("{not json")  # a hand-damaged record: a new history, not a breaker that cannot start
    assert OutageBreaker(record=record).outages() == []
