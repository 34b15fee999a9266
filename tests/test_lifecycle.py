"""The worker's lifecycle helpers: a sync worker's heartbeat beats only during requests, and
freed memory goes back to the system after big bodies."""

from __future__ import annotations

import platform
import threading

import pytest

from service import lifecycle

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's; elsewhere it is a no-op"
)


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


def anonymous_kib() -> int:
    """Return this process's resident anonymous memory in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


@glibc_only
def test_releasing_free_memory_hands_back_pages_freed_between_live_allocations():
    # 1 KiB objects come from malloc; keeping every 64th leaves no free top to shrink,
    # so only malloc_trim can return the 60 MiB freed in between.
    blocks = [bytes(1024) + bytes([n % 256]) for n in range(60 * 1024)]
    survivors = blocks[::64]
    del blocks
    before = anonymous_kib()

    assert lifecycle.release_free_memory() is True

    assert before - anonymous_kib() > 30 * 1024
    assert len(survivors) == 960


@glibc_only
@pytest.mark.parametrize(
    ("content_length", "released"),
    [
        (str(lifecycle.BIG_BODY_BYTES), True),
        ("13200000", True),
        (str(lifecycle.BIG_BODY_BYTES - 1), False),
        ("", False),
        (None, False),
        ("not a number", False),
    ],
)
def test_memory_is_released_after_a_request_only_when_its_body_was_big(content_length, released):
    environ = {} if content_length is None else {"CONTENT_LENGTH": content_length}

    assert lifecycle.after_request(environ) is released


@glibc_only
@pytest.mark.parametrize("encoding", ["chunked", "gzip, chunked", "Chunked"])
def test_memory_is_released_after_a_chunked_body_whose_length_was_never_announced(encoding):
    environ = {"HTTP_TRANSFER_ENCODING": encoding}

    assert lifecycle.after_request(environ) is True


@glibc_only
def test_a_body_encoded_without_chunks_is_still_judged_by_its_length():
    environ = {"HTTP_TRANSFER_ENCODING": "identity", "CONTENT_LENGTH": "10"}

    assert lifecycle.after_request(environ) is False
