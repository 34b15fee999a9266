"""The CSV importers on their own: each sample export, every duration style, bad rows."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from service.errors import APIError
from service.importers import parse_file
from service.importers import read_file
from service.importers.base import RowInvalid
from service.importers.base import parse_hours

FIXTURES = Path(__file__).parent / "fixtures"
BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")
HEADER_TOGGL = "Start date,Start time,Duration,Project,Description,Billable,Tags\n"


def parse(data: str | bytes, zone: ZoneInfo = UTC_ZONE, format_name: str | None = None):
    raw = data.encode() if isinstance(data, str) else data
    return parse_file(raw, format_name=format_name, zone=zone, max_rows=1000)


def summary(result) -> list[tuple[str, float, str | None, str | None]]:
    return [
        (e["date"].isoformat(), round(e["duration"] * 3600), e["project"], e["description"])
        for e in result.entries
    ]


@pytest.mark.parametrize(
    ("sample", "fmt", "expected", "skipped"),
    [
        (
            "toggl_detailed_report.reconstructed.csv",
            "toggl_csv",
            [
                ("2024-03-04T09:23:00+00:00", 3601, "Project for Big Company", "Working hard"),
                ("2024-08-21T17:21:21+00:00", 1105, "Project Name", "Update healthchecks"),
            ],
            {"zero_duration": 1},
        ),
        (
            "toggl_time_entries_export_variant.reconstructed.csv",
            "toggl_csv",
            [
                (
                    "2026-08-21T17:21:21+00:00",
                    1105,
                    "Project Name",
                    "Update new/changed healthchecks",
                )
            ],
            {},
        ),
        (
            "clockify_detailed_report.reconstructed.csv",
            "clockify_csv",
            [("2024-03-04T09:23:00+00:00", 3601, "Project for Big Company", "Working hard")],
            {"zero_duration": 1},
        ),
        (
            "clockify_detailed_report_variant.reconstructed.csv",
            "clockify_csv",
            [("2024-03-04T09:23:00+00:00", 3601, "Project A", "Working hard")],
            {},
        ),
        (
            "harvest_time_entries_export.reconstructed.csv",
            "harvest_csv",
            [("2024-03-03T23:00:00+00:00", 5400, "Project for Big Company", "Working hard")],
            {},
        ),
        (
            "generic_time_entries_upload.reconstructed.csv",
            "generic_csv",
            [("2024-03-04T09:23:00+00:00", 3601, "Project for Big Company", "Working hard")],
            {},
        ),
    ],
)
def test_each_sample_export_is_detected_and_read_in_its_zone(sample, fmt, expected, skipped):
    result = parse((FIXTURES / sample).read_bytes(), zone=BERLIN)

    assert result.format == fmt
    assert summary(result) == expected
    assert dict(result.skipped) == skipped
    assert result.errors == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("01:00:01", 3601),
        ("1:30", 5400),
        ("18:25 min", 1105),
        ("90 min", 5400),
        ("1.5", 5400),
        ("1,5", 5400),
        ("20,0", 72000),
        ("0.25 h", 900),
        ("00:00:00", 0),
    ],
)
def test_every_duration_style_reads_as_seconds(text, seconds):
    assert parse_hours(text, "Duration") == seconds


@pytest.mark.parametrize("text", ["", "abc", "1:75", "-1", "1.5.2", "1:00:00:00"])
def test_nonsense_durations_name_their_column(text):
    with pytest.raises(RowInvalid) as caught:
        parse_hours(text, "Duration")

    assert caught.value.column == "Duration"


def test_bom_quoting_embedded_commas_and_newlines_survive():
    data = (
        '\ufeff"Start date",Start time,Duration,Project,Description,Email\r\n'
        '2024-03-04,09:00:00,1:00:00,"Apollo, Phase 2","line one\nline two, with comma",a@x\r\n'
    )

    result = parse(data)

    assert summary(result) == [
        ("2024-03-04T09:00:00+00:00", 3600, "Apollo, Phase 2", "line one\nline two, with comma")
    ]


def test_clockify_twelve_hour_clock_crossing_midnight_without_a_duration():
    data = (
        "Project,Description,Activity,Billable,Start Date,Start Time,End Date,End Time,"
        "Duration (h)\n"
        "Night,Deploy,Ops,Yes,03/04/2024,11:30 PM,03/05/2024,12:45:00 AM,\n"
        "Night,Watch,Ops,No,03/05/2024,11:00 PM,,01:00 AM,\n"
    )

    result = parse(data)

    assert result.format == "clockify_csv"
    assert summary(result) == [
        ("2024-03-04T23:30:00+00:00", 4500, "Night", "Deploy"),
        ("2024-03-05T23:00:00+00:00", 7200, "Night", "Watch"),
    ]


def test_identical_rows_stay_two_entries_with_stable_distinct_ids():
    row = "2024-03-04,09:00:00,1:00:00,Apollo,Same\n"
    data = "Start date,Start time,Duration,Project,Description\n" + row + row

    first, second = parse(data), parse(data)

    ids = [e["external_id"] for e in first.entries]
    assert len(set(ids)) == 2
    assert ids == [e["external_id"] for e in second.entries]


def test_every_bad_row_is_reported_with_line_and_column():
    data = (
        "Start date,Start time,Duration,Project,Description\n"
        "2024-03-04,09:00:00,1:00:00,Apollo,ok\n"
        '2024-13-45,09:00:00,1:00:00,Apollo,"two\nlines"\n'
        "2024-03-04,09:00:00,soon,Apollo,bad duration\n"
        "2024-03-04,09:00:00\n"
        "2024-03-04,09:00:00,25:00:00,Apollo,too long\n"
    )

    result = parse(data)

    assert [(e.line, e.column) for e in result.errors] == [
        (3, "Start date"),
        (5, "Duration"),
        (6, None),
        (7, "Duration"),
    ]


def test_an_empty_required_cell_is_reported_under_the_files_own_column_name():
    toggl = parse("START DATE,Start Time,Duration\n2024-03-04,,1:00:00\n")
    harvest = parse("Date,Hours,Project\n2024-03-04,,Apollo\n")

    assert [(e.line, e.column, e.reason) for e in toggl.errors] == [
        (2, "Start Time", "is required")
    ]
    assert [(e.line, e.column, e.reason) for e in harvest.errors] == [(2, "Hours", "is required")]


def test_running_entries_are_skipped_and_counted():
    result = parse("Start date,Start time,End time,Duration\n2024-03-04,09:00:00,,\n")

    assert result.entries == []
    assert dict(result.skipped) == {"running": 1}


def test_a_plain_csv_row_needs_an_end_or_a_duration():
    result = parse("start,end,duration,project\n2024-03-04T09:00:00Z,,,Apollo\n")

    assert [(e.line, e.column) for e in result.errors] == [(2, "end")]


def test_a_plain_csv_source_column_is_kept_and_must_be_a_slug():
    data = "start,duration,source,external_id\n2024-03-04T09:00:00Z,1,toggl,77\n"

    kept = parse(data)
    bad = parse(data.replace("toggl", "Not A Source"))

    assert [(e["source"], e["external_id"]) for e in kept.entries] == [("toggl", "77")]
    assert [(e.line, e.column) for e in bad.errors] == [(2, "source")]


def test_naive_times_are_local_to_the_zone_given_and_offsets_win():
    data = "start,duration\n2024-07-01T09:00:00,1\n2024-07-01T09:00:00-05:00,1\n"

    result = parse(data, zone=BERLIN)

    assert [e["date"] for e in result.entries] == [
        datetime(2024, 7, 1, 7, tzinfo=UTC),
        datetime(2024, 7, 1, 14, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"", "empty"),
        (b"  \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        ("Start date,Start time,Duration\n2024-03-04,caf\xe9,1\n".encode("latin-1"), "UTF-8"),
        (b"Start date,Start time,Duration\n", "no entries"),
        (b"Foo,Bar\n1,2\n", "toggl_csv, clockify_csv, harvest_csv, generic_csv"),
    ],
)
def test_files_that_cannot_be_imported_are_refused_whole(data, detail):
    with pytest.raises(APIError) as caught:
        parse(data)

    assert caught.value.status == 422
    assert detail in caught.value.detail


def test_a_format_named_by_the_caller_must_fit_the_header():
    with pytest.raises(APIError) as caught:
        parse("date,hours\n2024-03-04,1\n", format_name="toggl_csv")

    assert "duration, start date, start time" in caught.value.detail


def test_too_many_rows_are_refused():
    data = "start,duration\n" + "2024-03-04T09:00:00Z,1\n" * 3

    with pytest.raises(APIError) as caught:
        parse_file(data.encode(), format_name=None, zone=UTC_ZONE, max_rows=2)

    assert "more than 2 rows" in caught.value.detail


def test_a_file_is_read_in_batches_of_the_size_asked_for():
    data = "start,duration\n" + "".join(f"2024-03-04T{hour:02d}:00:00Z,1\n" for hour in range(24))

    _, batches = read_file(
        data.encode(), format_name=None, zone=UTC_ZONE, max_rows=100, batch_rows=10
    )

    assert [len(batch) for batch in batches] == [10, 10, 4]


def test_a_file_read_in_batches_gives_the_entries_of_reading_it_whole():
    data = (FIXTURES / "toggl_detailed_report.reconstructed.csv").read_bytes()
    whole = parse(data, BERLIN)

    result, batches = read_file(data, format_name=None, zone=BERLIN, max_rows=1000, batch_rows=1)
    read = list(batches)

    assert [len(batch) for batch in read] == [1, 1]
    assert [entry for batch in read for entry in batch] == whole.entries
    assert (result.rows, result.skipped) == (whole.rows, whole.skipped)


def labels(result) -> list[tuple[bool, list[str], str | None, str | None]]:
    return [(e["billable"], e["tags"], e["client"], e["task"]) for e in result.entries]


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (
            "toggl_detailed_report.reconstructed.csv",
            [
                (True, [], "Big Company", "Task 1"),
                (False, ["Maintenance"], "Customer Name", None),
            ],
        ),
        (
            "toggl_time_entries_export_variant.reconstructed.csv",
            [(False, ["Maintenance"], "Customer Name", None)],
        ),
        (
            "clockify_detailed_report.reconstructed.csv",
            [(True, [], "Big Company", "Task 1")],
        ),
        (
            "clockify_detailed_report_variant.reconstructed.csv",
            [(True, [], "Client A", "Task 1")],
        ),
        (
            "harvest_time_entries_export.reconstructed.csv",
            [(True, [], "Big Company", "Task 1")],
        ),
        (
            "generic_time_entries_upload.reconstructed.csv",
            [(True, ["Backend", "Development"], "Big Company", "Task 1")],
        ),
    ],
)
def test_each_sample_export_keeps_billable_tags_client_and_task(sample, expected):
    result = parse((FIXTURES / sample).read_bytes(), zone=BERLIN)

    assert labels(result) == expected


def test_a_tags_cell_is_a_set_and_billable_reads_yes_no_true_false_in_any_case():
    rows = [
        '2026-11-02T09:00:00Z,1,YES,"ops, backend,ops,, "',
        "2026-11-02T10:00:00Z,1,false,",
        "2026-11-02T11:00:00Z,1,,backend",
    ]

    result = parse("start,duration,billable,tags\n" + "\n".join(rows) + "\n")

    assert [(e["billable"], e["tags"]) for e in result.entries] == [
        (True, ["backend", "ops"]),
        (False, []),
        (False, ["backend"]),
    ]


@pytest.mark.parametrize(
    ("cells", "column", "reason"),
    [
        ("maybe,", "Billable", "'maybe' is not Yes or No"),
        ("Yes," + "x" * 51, "Tags", "has a tag longer than 50 characters"),
        ('Yes,"' + ",".join(f"t{n}" for n in range(21)) + '"', "Tags", "has more than 20 tags"),
    ],
)
def test_bad_billable_or_tags_cells_are_reported_under_their_column(cells, column, reason):
    result = parse(f"Start,Duration,Billable,Tags\n2026-11-02T09:00:00Z,1,{cells}\n")

    assert [(e.line, e.column, e.reason) for e in result.errors] == [(2, column, reason)]
    assert result.entries == []


def test_the_labels_are_no_part_of_a_rows_key():
    """A file uploaded before entries kept labels re-imports onto the same entries."""
    plain = parse(HEADER_TOGGL + "2026-11-02,09:00:00,1:00:00,Apollo,Work,,\n")
    labelled = parse(HEADER_TOGGL + "2026-11-02,09:00:00,1:00:00,Apollo,Work,Yes,ops\n")

    assert [e["external_id"] for e in plain.entries] == [e["external_id"] for e in labelled.entries]
    assert labels(labelled) == [(True, ["ops"], None, None)]
