"""The import's read-ahead: the next batch is produced in a thread while this one is written."""

from __future__ import annotations

import threading

import pytest

from service.errors import APIError
from service.upserts import read_ahead


def counted(items: list, taken: list):
    """Yield ITEMS, noting in TAKEN each one as it is produced; an exception is raised."""
    for item in items:
        if isinstance(item, Exception):
            raise item
        taken.append(item)
        yield item


def test_read_ahead_yields_every_item_in_order_from_another_thread():
    threads = []

    def produce():
        for n in range(5):
            threads.append(threading.current_thread())
            yield n

    assert list(read_ahead(produce())) == [0, 1, 2, 3, 4]
    assert threading.current_thread() not in threads


def test_read_ahead_raises_the_producers_error_after_the_items_before_it():
    items = read_ahead(counted([1, 2, APIError(422, "bad file"), 3], []))

    assert [next(items), next(items)] == [1, 2]
    with pytest.raises(APIError, match="bad file"):
        next(items)


def test_read_ahead_stops_one_item_ahead_when_closed():
    taken: list[int] = []
    items = read_ahead(counted(list(range(10)), taken))

    assert next(items) == 0
    items.close()

    assert taken == [0, 1]
