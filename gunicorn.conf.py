"""gunicorn settings, read from the environment (`gunicorn -c gunicorn.conf.py wsgi:app`)."""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "4"))
control_socket_disable = True
accesslog = "-"
errorlog = "-"
# Refuse oversized request lines and headers before the application sees them.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
