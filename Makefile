# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
DEV_ENV := APP_ENV=development LOG_FORMAT=$${LOG_FORMAT:-text} HOST=$(HOST) PORT=$(PORT)
# Each worker writes its metrics here, so /metrics sums them; emptied at every start.
METRICS_DIR := $(CURDIR)/instance/prometheus

.PHONY: run cli test bench lint-deploy image-smoke secrets migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements-dev.lock setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

migrate: $(VENV)/.installed ## apply migrations to DATABASE_URL (default: instance/time_tracker.db)
	$(DEV_ENV) $(BIN)/python -m service.migrate

run: migrate ## serve on http://$(HOST):$(PORT) with gunicorn, and one job worker; Ctrl-C stops both
	rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	$(DEV_ENV) PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) $(BIN)/python -m service.worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(DEV_ENV) PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) WEB_CONCURRENCY=$${WEB_CONCURRENCY:-2} \
		$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

cli: $(VENV)/.installed ## run a flask command with make run's settings: make cli ARGS="clients list"
	@$(DEV_ENV) $(BIN)/python -m service.migrate >/dev/null
	$(DEV_ENV) $(BIN)/flask --app wsgi $(ARGS)

test: $(VENV)/.installed lint-deploy ## run every test (PostgreSQL half skips locally without a server)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

bench: $(VENV)/.installed ## measure the service against its ceilings (PostgreSQL and wrk needed)
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install -y wrk" >&2; exit 1; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The base and every overlay, each rendered by kustomize as `kubectl apply -k` would.
KUSTOMIZATIONS := deploy/kubernetes/base $(wildcard deploy/kubernetes/overlays/*)

lint-deploy: $(VENV)/.installed ## lint the Dockerfile, shell scripts and manifests (offline)
	$(BIN)/hadolint --failure-threshold warning Dockerfile
	$(BIN)/shellcheck docker-entrypoint.sh scripts/image-smoke scripts/make-secrets
	$(BIN)/yamllint --strict deploy docker-compose.yml .yamllint.yaml
	@command -v kubectl >/dev/null || { echo "lint-deploy needs kubectl (for kustomize)" >&2; exit 1; }
	@rendered=$$(mktemp) && trap 'rm -f "$$rendered"' EXIT && \
	for dir in $(KUSTOMIZATIONS); do \
		echo "kubectl kustomize $$dir | kubernetes-validate --strict"; \
		kubectl kustomize "$$dir" >"$$rendered" && \
		$(BIN)/kubernetes-validate --strict --quiet "$$rendered" || exit 1; \
	done

secrets: ## create the compose stack's secrets under ./secrets/ (never overwrites one)
	scripts/make-secrets secrets

image-smoke: ## build the image with buildah; boot its web and worker on the local PostgreSQL and Redis
	scripts/image-smoke

clean:
	rm -rf $(VENV) .pytest_cache
