"""Minimal Flask + pooled psycopg2: /health runs SELECT 1 and answers like the service."""

from datetime import UTC
from datetime import datetime

from flask import Flask
from flask import jsonify

from bench.ceilings.pool import connection

app = Flask(__name__)


@app.get("/health")
def health():
    """Run SELECT 1 on a pooled connection."""
    with connection() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return jsonify(status="healthy", timestamp=datetime.now(UTC).isoformat())
