"""Exports: streamed CSV (the generic upload layout) or JSON, filtered, formula-safe."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from service import entries
from service.export import CSV_COLUMNS

GENERIC_UPLOAD = Path(__file__).resolve().parents[2] / "shared/formats"
GENERIC_HEADER = "description,billable,client,project,tags,start,end,task,user_name,user_email"


def read_csv(text: str) -> list[dict[str, str]]:
    """Parse an exported CSV into one dict per row."""
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_starts_with_the_generic_upload_header_then_source_and_external_id():
    sample = GENERIC_UPLOAD / "generic_time_entries_upload.reconstructed.csv"
    if sample.exists():
        assert sample.read_text().splitlines()[0] == GENERIC_HEADER

    assert ",".join(CSV_COLUMNS) == GENERIC_HEADER + ",source,external_id"


def test_csv_export_streams_every_entry_oldest_first(client, auth_headers, make_entry):
    late = make_entry(date="2026-11-03T09:00:00Z", duration=2, description="late")
    early = make_entry(date="2026-11-01T09:00:00+01:00", duration=0.5, source="toggl")

    response = client.get("/api/entries/export?format=csv", headers=auth_headers)

    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="time-entries.csv"'
    rows = read_csv(response.get_data(as_text=True))
    assert [(r["start"], r["end"], r["external_id"]) for r in rows] == [
        ("2026-11-01T08:00:00Z", "2026-11-01T08:30:00Z", early["external_id"]),
        ("2026-11-03T09:00:00Z", "2026-11-03T11:00:00Z", late["external_id"]),
    ]
    assert [(r["source"], r["project"], r["description"]) for r in rows] == [
        ("toggl", "Apollo", ""),
        ("manual", "Apollo", "late"),
    ]


def test_csv_is_the_default_and_has_a_header_even_when_empty(client, auth_headers):
    response = client.get("/api/entries/export", headers=auth_headers)

    assert response.status_code == 200
    assert response.get_data(as_text=True) == ",".join(CSV_COLUMNS) + "\r\n"


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("plain = text", "plain = text"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(
    client, auth_headers, make_entry, text, cell
):
    make_entry(description=text, project=text)

    response = client.get("/api/entries/export?format=csv", headers=auth_headers)

    [row] = read_csv(response.get_data(as_text=True))
    assert (row["description"], row["project"]) == (cell, cell)


def test_json_export_is_the_entries_as_an_array(client, auth_headers, make_entry):
    second = make_entry(date="2026-11-02T09:00:00Z")
    first = make_entry(date="2026-11-01T09:00:00Z")

    response = client.get("/api/entries/export?format=json", headers=auth_headers)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json.loads(response.get_data()) == [first, second]


def test_an_empty_json_export_is_an_empty_array(client, auth_headers):
    response = client.get("/api/entries/export?format=json", headers=auth_headers)

    assert json.loads(response.get_data()) == []


def test_export_takes_the_list_filters_and_only_the_callers_entries(
    client, auth_headers, make_entry, make_user, headers_for
):
    make_entry(date="2026-11-01T09:00:00Z", project="Apollo")
    kept = make_entry(date="2026-11-02T09:00:00Z", project="Apollo", source="harvest")
    make_entry(date="2026-11-03T09:00:00Z", project="Gemini", source="harvest")
    make_entry(headers=headers_for(make_user()), date="2026-11-02T10:00:00Z", source="harvest")
    query = "format=json&source=harvest&project=Apollo&from=2026-11-02T00:00:00Z"

    response = client.get(f"/api/entries/export?{query}", headers=auth_headers)

    assert json.loads(response.get_data()) == [kept]


def test_export_reads_in_keyset_chunks_without_skipping_ties(client, auth_headers, monkeypatch):
    monkeypatch.setattr(entries, "EXPORT_CHUNK", 7)
    start = datetime(2026, 10, 1, 8, tzinfo=UTC)
    items = [
        {
            "date": (start + timedelta(hours=n // 3)).isoformat(),
            "duration": 0.25,
            "source": "toggl",
            "external_id": str(n),
        }
        for n in range(40)
    ]
    client.put("/api/entries/bulk", json={"entries": items}, headers=auth_headers)

    response = client.get("/api/entries/export?format=csv", headers=auth_headers)

    rows = read_csv(response.get_data(as_text=True))
    assert sorted(int(r["external_id"]) for r in rows) == list(range(40))
    assert [r["start"] for r in rows] == sorted(r["start"] for r in rows)


@pytest.mark.parametrize(
    "query",
    ["format=xml", "format=CSV", "from=2026-11-02", "source=Not%20A%20Source", "limit=5"],
)
def test_bad_export_queries_are_422(client, auth_headers, query):
    response = client.get(f"/api/entries/export?{query}", headers=auth_headers)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


@pytest.mark.skipif(
    importlib.util.find_spec("service.importers") is None,
    reason="service.importers (issue 4: POST /api/imports, generic_csv) is not merged yet",
)
def test_an_exported_csv_reimports_as_generic_csv_without_duplicates(
    client, auth_headers, make_entry
):
    make_entry(date="2026-11-01T09:00:00Z", duration=1.5, description="design")
    make_entry(date="2026-11-02T09:00:00Z", duration=2, source="toggl", external_id="77")
    exported = client.get("/api/entries/export?format=csv", headers=auth_headers).get_data()
    before = client.get("/api/entries", headers=auth_headers).json["items"]

    response = client.post(
        "/api/imports",
        data={"format": "generic_csv", "file": (io.BytesIO(exported), "export.csv")},
        headers=auth_headers,
        content_type="multipart/form-data",
    )

    after = client.get("/api/entries", headers=auth_headers).json["items"]
    assert response.status_code in {200, 201, 202}, response.json
    assert len(after) == len(before) == 2
    assert {(e["source"], e["external_id"]) for e in after} == {
        (e["source"], e["external_id"]) for e in before
    }


def test_export_then_import_then_export_gives_the_same_file(client, auth_headers, make_entry):
    make_entry(
        date="2026-11-01T09:00:00Z",
        duration=1.25,
        description='quoted "text", with commas',
        billable=True,
        tags=["backend", "Grüße", "two words"],
        client="Acme, Inc.",
        task="Login",
    )
    make_entry(date="2026-11-02T09:00:00Z", duration=2, source="toggl", external_id="77")
    exported = client.get("/api/entries/export?format=csv", headers=auth_headers).get_data()

    imported = client.post(
        "/api/imports",
        data={"file": (io.BytesIO(exported), "export.csv")},
        headers=auth_headers,
        content_type="multipart/form-data",
    )
    again = client.get("/api/entries/export?format=csv", headers=auth_headers).get_data()

    assert imported.status_code == 200, imported.json
    assert (imported.json["format"], imported.json["unchanged"]) == ("generic_csv", 2)
    assert again == exported
    assert read_csv(exported.decode())[0]["tags"] == "Grüße, backend, two words"


def test_the_exports_carry_the_labels(client, auth_headers, make_entry):
    entry = make_entry(billable=True, tags=["b", "a"], client="Acme", task="Login")

    as_json = client.get("/api/entries/export?format=json", headers=auth_headers).json
    as_csv = client.get("/api/entries/export", headers=auth_headers).get_data(as_text=True)

    assert as_json == [entry]
    [row] = read_csv(as_csv)
    assert (row["billable"], row["tags"], row["client"], row["task"]) == (
        "true",
        "a, b",
        "Acme",
        "Login",
    )
