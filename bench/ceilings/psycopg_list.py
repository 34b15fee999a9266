"""The entries list query through plain psycopg2, rows as dicts (the user comes in `user`)."""

from datetime import UTC

from flask import Flask
from flask import jsonify
from flask import request
from psycopg2.extras import RealDictCursor

from bench.ceilings.pool import connection

app = Flask(__name__)

LIST_SQL = """
SELECT id, date, duration, project, description, source, external_id, created_at, updated_at
FROM time_entries
WHERE user_id = %s AND date >= %s AND date < %s
ORDER BY date DESC, id DESC
LIMIT %s
"""


def _iso(value):
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@app.get("/api/entries")
def list_entries():
    """Return one page of a user's entries in a date range, newest first."""
    args = request.args
    limit = int(args.get("limit", 50))
    params = (args["user"], args["from"], args["to"], limit + 1)
    with connection() as conn, conn.cursor(cursor_factory=RealDictCursor) as cursor:
        cursor.execute(LIST_SQL, params)
        rows = cursor.fetchall()
    for row in rows:
        row["id"] = str(row["id"])
        for name in ("date", "created_at", "updated_at"):
            row[name] = _iso(row[name])
    more = len(rows) > limit
    return jsonify(items=rows[:limit], next_cursor="more" if more else None)
