"""The entries list query through plain psycopg2, rows as dicts: one user's (`user`) or a
team's people's (`team`)."""

from datetime import UTC

from flask import Flask
from flask import jsonify
from flask import request
from psycopg2.extras import RealDictCursor

from bench.ceilings.pool import connection

app = Flask(__name__)

COLUMNS = (
    "id, user_id, date, duration, project, description, source, external_id, created_at, "
    "updated_at, updated_by, billable, tags, client, task, duration IS NULL AS running"
)
ORDER = "ORDER BY date DESC, id DESC LIMIT %s"
LIST_SQL = (
    f"SELECT {COLUMNS} FROM time_entries WHERE user_id = %s AND date >= %s AND date < %s {ORDER}"
)
TEAM_LIST_SQL = (
    f"SELECT {COLUMNS} FROM time_entries WHERE user_id IN "
    "(SELECT user_id FROM memberships WHERE team_id = %s) "
    f"AND date >= %s AND date < %s {ORDER}"
)


def _iso(value):
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@app.get("/api/entries")
def list_entries():
    """Return one page of a user's or a team's entries in a date range, newest first."""
    args = request.args
    limit = int(args.get("limit", 50))
    sql, whose = (TEAM_LIST_SQL, args["team"]) if "team" in args else (LIST_SQL, args["user"])
    with connection() as conn, conn.cursor(cursor_factory=RealDictCursor) as cursor:
        cursor.execute(sql, (whose, args["from"], args["to"], limit + 1))
        rows = cursor.fetchall()
    for row in rows:
        for name in ("id", "user_id", "updated_by"):
            row[name] = None if row[name] is None else str(row[name])
        for name in ("date", "created_at", "updated_at"):
            row[name] = _iso(row[name])
    more = len(rows) > limit
    return jsonify(items=rows[:limit], next_cursor="more" if more else None)
