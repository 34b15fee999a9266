"""The worker's lifecycle helpers: a sync worker's heartbeat beats only during requests."""

from __future__ import annotations

import threading

from service import lifecycle


def test_the_heartbeat_beats_while_a_request_runs_and_not_between_requests():
    beats, stop = threading.Semaphore(0), threading.Event()
    lifecycle.in_request.clear()
    heartbeat = lifecycle.beat_during_requests(beats.release, every=0.01, stop=stop)
    try:
        assert not beats.acquire(timeout=0.2)
        lifecycle.in_request.set()
        assert all(beats.acquire(timeout=1) for _ in range(3))
    finally:
        lifecycle.in_request.clear()
        stop.set()
    heartbeat.join(timeout=1)

    assert not heartbeat.is_alive()
