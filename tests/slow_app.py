"""The real app for shutdown tests, plus one route that holds a request in pg_sleep."""

from __future__ import annotations

from flask import request

from service import create_app
from service.db import db

app = create_app()


@app.get("/test/sleep")
def sleep():
    """Sleep in PostgreSQL for ?seconds= on a pooled connection, like a slow real query."""
    seconds = float(request.args["seconds"])
    with db.connection_context():
        db.execute_sql("SELECT pg_sleep(%s)", (seconds,))
    return {"slept": seconds}
