#!/bin/sh
# Boot the container: wait for the database, migrate (locked), then hand PID 1 to gunicorn.
# "worker": wait for the database, then hand PID 1 to the job worker (the web pods migrate).
# With other arguments, run those instead (e.g. python -m service.migrate --check).
set -eu

log() {
    printf 'entrypoint: %s\n' "$*"
}

# Every Python process of the service writes its metrics there, so it must exist first.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

if [ "$#" -gt 0 ] && [ "$1" != "serve" ] && [ "$1" != "worker" ]; then
    log "running $*"
    exec "$@"
fi

log "waiting for the database (at most ${DB_WAIT_TIMEOUT:-30} s)"
python -m service.wait_for_database

if [ "${1:-serve}" = "worker" ]; then
    log "starting the job worker"
    exec python -m service.worker
fi

case "${MIGRATE_ON_START:-true}" in
    false | FALSE | False | 0 | no | off)
        log "MIGRATE_ON_START=${MIGRATE_ON_START}: skipping migrations"
        ;;
    *)
        log "applying migrations"
        python -m service.migrate
        ;;
esac

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    # Only the workers' metrics count: not the files of the steps above or of a past run.
    log "emptying the metrics directory $PROMETHEUS_MULTIPROC_DIR"
    find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi

log "starting gunicorn"
exec gunicorn -c gunicorn.conf.py wsgi:app
