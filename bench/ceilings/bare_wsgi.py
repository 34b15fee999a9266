"""A bare WSGI app answering every path with /livez's JSON."""

BODY = b'{"status":"alive"}\n'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    """Answer 200 with a fixed JSON body."""
    start_response("200 OK", HEADERS)
    return [BODY]
