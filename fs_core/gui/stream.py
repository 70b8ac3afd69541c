"""The live view's server-sent events, from the model's training record.

The record is polled every quarter second from where the last read stopped (appends are small), so
the trainer never waits on the GUI. Progress is coalesced into at most one ``status`` event per poll
(four a second at most); ``save``, ``message`` and ``end`` records pass through as they come. With
no new progress, the model's summary is re-read every few seconds, so a trainer that dies without an
``end`` record shows as failed. Reads run in a worker thread: the event loop only waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from fs_core.gui.jsonout import dumps
from fs_core.record import model_summary, read_events

POLL_SECONDS = 0.25
#: polls without progress between two reads of the model summary
SUMMARY_EVERY = 8
#: polls between two keep-alive comments (proxies drop silent connections)
KEEPALIVE_EVERY = 60
#: message records sent per poll at most (the Messages tab reads the rest from the model's detail)
MESSAGES_PER_POLL = 20
PASSED_THROUGH = ("save", "message", "end")


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {dumps(data)}\n\n"


def eta_seconds(status: dict[str, Any] | None, target: int | None) -> float | None:
    """Seconds left to ``-i`` at this session's average speed, or None when unknown."""
    if not status or not target:
        return None
    done, elapsed = status.get("session_iterations"), status.get("elapsed")
    if not isinstance(done, (int, float)) or not isinstance(elapsed, (int, float)) or done <= 0:
        return None
    return max(0.0, (target - done) * elapsed / done)


def status_data(
    status: dict[str, Any] | None, state: str | None, target: int | None
) -> dict[str, Any]:
    data = {k: v for k, v in (status or {}).items() if k not in ("v", "type")}
    data.update(state=state, eta_seconds=eta_seconds(status, target))
    return data


async def model_events(model_dir: Path, disconnected: Callable[[], Any]) -> AsyncIterator[str]:
    """The event stream of one model, until the client goes away."""
    summary = await run_in_threadpool(model_summary, model_dir)
    history, offset = await run_in_threadpool(read_events, model_dir, 0)
    last_time = history[-1].get("time", 0) if history else 0
    del history
    state, target, status = summary.get("state"), summary.get("target"), summary.get("status")
    yield sse("status", status_data(status, state, target))
    polls = quiet = 0
    while not await disconnected():
        await asyncio.sleep(POLL_SECONDS)
        polls += 1
        records, new_offset = await run_in_threadpool(read_events, model_dir, offset)
        # a compacted (replaced) file is read again from its start: its old records are not news
        replaced = new_offset < offset or bool(records and records[0].get("time", 0) < last_time)
        offset = new_offset
        if records:
            last_time = max(last_time, records[-1].get("time", 0))
        changed, messages = False, 0
        for record in [] if replaced else records:
            kind = record.get("type")
            if kind == "progress":
                status, changed = record, True
            elif kind == "session_start":
                state, target, status, changed = "training", record.get("target"), None, True
            elif kind == "end":
                state = "failed" if record.get("reason") in ("error", "nan") else "stopped"
                changed = True
            if kind in PASSED_THROUGH:
                if kind == "message":
                    messages += 1
                    if messages > MESSAGES_PER_POLL:
                        continue
                yield sse(kind, record)
        quiet = 0 if changed else quiet + 1
        if replaced or quiet >= SUMMARY_EVERY:
            quiet = 0
            summary = await run_in_threadpool(model_summary, model_dir)
            if replaced or summary.get("state") != state:
                state, target = summary.get("state"), summary.get("target")
                status, changed = summary.get("status"), True
        if changed:
            yield sse("status", status_data(status, state, target))
        elif polls % KEEPALIVE_EVERY == 0:
            yield ": keep-alive\n\n"
