"""The bench reruns a wrk run that measured the machine's accident, not the app."""

from __future__ import annotations

import pytest

from bench.run import disturbance


@pytest.mark.parametrize(
    ("before", "after", "connections", "expected"),
    [
        ({1: 0.0, 2: 0.0}, {1: 2.6, 2: 2.8}, 32, None),
        ({1: 0.0, 2: 0.0}, {1: 3.2, 2: 0.1}, 32, "lopsided"),
        ({1: 0.0, 2: 0.0}, {1: 3.2, 3: 0.9}, 32, "recycled"),
        ({1: 0.0, 2: 0.0}, {1: 3.2}, 32, "recycled"),
        ({1: 0.0, 2: 0.0}, {1: 3.0, 2: 0.0}, 1, None),
        ({1: 0.0}, {1: 3.0}, 32, None),
    ],
    ids=[
        "balanced",
        "one-worker-did-it-all",
        "worker-replaced",
        "worker-gone",
        "one-conn",
        "one-worker",
    ],
)
def test_a_run_is_disturbed_when_a_worker_was_recycled_or_one_worker_took_every_connection(
    before, after, connections, expected
):
    assert disturbance(before, after, connections) == expected
