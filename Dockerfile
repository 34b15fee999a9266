# The time-tracker service: gunicorn serving the Flask app, migrating on start.
# Debian-based slim, not Alpine: bcrypt, psycopg2 and cryptography ship glibc wheels.
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Wheels for the locked dependencies first (cached until the lock changes), then the project.
COPY requirements.lock ./
RUN python -m venv /opt/build \
    && /opt/build/bin/pip wheel --no-deps --wheel-dir /wheels -r requirements.lock
COPY setup.cfg pyproject.toml README.md ./
COPY service/ service/
RUN /opt/build/bin/pip wheel --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    MALLOC_ARENA_MAX=2
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --no-create-home --home-dir /app \
        --shell /usr/sbin/nologin app
# Installs only the builder's wheels, offline; the wheels themselves stay out of the image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links=/wheels time-tracker-service \
    && /opt/venv/bin/pip check
WORKDIR /app
COPY --chown=10001:10001 migrations/ migrations/
COPY --chown=10001:10001 wsgi.py gunicorn.conf.py docker-entrypoint.sh ./
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/livez', timeout=4)"]
ENTRYPOINT ["/app/docker-entrypoint.sh"]
CMD ["serve"]
