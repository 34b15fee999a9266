"""A bare Flask app answering /livez with the same JSON as the service."""

from flask import Flask
from flask import jsonify

app = Flask(__name__)


@app.get("/livez")
def livez():
    """Answer 200 while the process serves."""
    return jsonify(status="alive")
