"""Conditional writes: every entry answer carries an ETag; If-Match on PATCH and DELETE
turns a lost update into a 412, while clients that send no If-Match still work."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import requests

from tests.faults import pg_rows
from tests.faults import sign_up
from tests.servers import wait_for


def test_entry_answers_carry_an_etag_that_changes_with_the_entry(client, auth_headers):
    created = client.post(
        "/api/entries", json={"date": "2026-11-02T09:00:00Z", "duration": 1}, headers=auth_headers
    )
    url = created.headers["Location"]

    fetched = client.get(url, headers=auth_headers)
    patched = client.patch(url, json={"duration": 2}, headers=auth_headers)
    refetched = client.get(url, headers=auth_headers)

    assert created.headers["ETag"] == fetched.headers["ETag"]
    assert patched.headers["ETag"] not in (None, created.headers["ETag"])
    assert refetched.headers["ETag"] == patched.headers["ETag"]


def test_a_patch_from_the_current_version_applies(client, auth_headers, make_entry):
    url = f"/api/entries/{make_entry()['id']}"
    etag = client.get(url, headers=auth_headers).headers["ETag"]

    response = client.patch(url, json={"duration": 3}, headers={**auth_headers, "If-Match": etag})

    assert response.status_code == 200
    assert response.json["duration"] == 3


def test_a_patch_from_a_stale_version_is_412_and_changes_nothing(client, auth_headers, make_entry):
    url = f"/api/entries/{make_entry()['id']}"
    stale = client.get(url, headers=auth_headers).headers["ETag"]
    client.patch(url, json={"project": "Gemini"}, headers=auth_headers)

    response = client.patch(url, json={"duration": 3}, headers={**auth_headers, "If-Match": stale})

    assert response.status_code == 412
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 412
    current = client.get(url, headers=auth_headers).json
    assert (current["duration"], current["project"]) == (1.5, "Gemini")


@pytest.mark.parametrize(
    ("if_match", "status"),
    [("*", 200), ('W/"0"', 412), ('"0"', 412), ('"0", "1"', 412), ("garbage", 412)],
)
def test_if_match_forms(client, auth_headers, make_entry, if_match, status):
    url = f"/api/entries/{make_entry()['id']}"

    response = client.patch(
        url, json={"duration": 2}, headers={**auth_headers, "If-Match": if_match}
    )

    assert response.status_code == status


def test_one_of_several_current_versions_is_enough(client, auth_headers, make_entry):
    url = f"/api/entries/{make_entry()['id']}"
    etag = client.get(url, headers=auth_headers).headers["ETag"]

    response = client.patch(
        url, json={"duration": 2}, headers={**auth_headers, "If-Match": f'"0", {etag}'}
    )

    assert response.status_code == 200


def test_a_delete_from_a_stale_version_is_412_and_keeps_the_entry(client, auth_headers, make_entry):
    url = f"/api/entries/{make_entry()['id']}"
    stale = client.get(url, headers=auth_headers).headers["ETag"]
    current = client.patch(url, json={"duration": 2}, headers=auth_headers).headers["ETag"]

    refused = client.delete(url, headers={**auth_headers, "If-Match": stale})
    kept = client.get(url, headers=auth_headers)
    deleted = client.delete(url, headers={**auth_headers, "If-Match": current})

    assert refused.status_code == 412
    assert kept.status_code == 200
    assert deleted.status_code == 204


def test_if_match_on_someone_elses_entry_is_still_404(
    client, make_entry, make_user, headers_for, auth_headers
):
    url = f"/api/entries/{make_entry()['id']}"
    etag = client.get(url, headers=auth_headers).headers["ETag"]
    intruder = {**headers_for(make_user()), "If-Match": etag}

    assert client.patch(url, json={"duration": 2}, headers=intruder).status_code == 404
    assert client.delete(url, headers=intruder).status_code == 404


def waiting_for_locks(database_url: str) -> int:
    sql = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return pg_rows(database_url, sql)[0][0]


@pytest.mark.faults
def test_concurrent_patches_from_one_version_let_exactly_one_win(serve, pg_url):
    server = serve(pg_url, workers=1, threads=8)  # room for all six PATCHes at once
    headers = sign_up(server)
    created = requests.post(
        server.url("/api/entries"),
        json={"date": "2026-11-02T09:00:00Z", "duration": 1},
        headers=headers,
        timeout=10,
    )
    url = server.url(created.headers["Location"])
    conditional = {**headers, "If-Match": created.headers["ETag"]}

    def patch(duration: int) -> tuple[int, int]:
        response = requests.patch(url, json={"duration": duration}, headers=conditional, timeout=10)
        return response.status_code, duration

    # Hold the row so every PATCH reads the same version, then queues for its write.
    blocker = psycopg2.connect(pg_url)
    try:
        with blocker.cursor() as cursor:
            cursor.execute("SELECT 1 FROM time_entries FOR UPDATE")
        with ThreadPoolExecutor(6) as pool:
            answers = pool.map(patch, range(2, 8))
            wait_for(lambda: waiting_for_locks(pg_url) == 6, 10, "six PATCHes queued")
            blocker.rollback()
            answers = list(answers)
    finally:
        blocker.close()

    winners = [duration for status, duration in answers if status == 200]
    assert Counter(status for status, _ in answers) == {200: 1, 412: 5}
    assert requests.get(url, headers=headers, timeout=10).json()["duration"] == winners[0]
