"""gunicorn settings, read from the environment (`gunicorn -c gunicorn.conf.py wsgi:app`)."""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("WORKER_CLASS", "gthread")
threads = int(os.environ.get("THREADS", "4"))
control_socket_disable = True
accesslog = "-"
errorlog = "-"
