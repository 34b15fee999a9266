"""`make bench`: the service against its ceilings, side by side, on a real gunicorn."""
