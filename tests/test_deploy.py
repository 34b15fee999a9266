"""Deployment policy: the Dockerfile, the build context and the manifests, parsed and checked."""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import yaml

from bench.servers import IMAGE_ENV
from service.config import load_config
from tests.servers import ROOT
from tests.servers import free_port

KUBERNETES = ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
OVERLAYS = sorted(p for p in (KUBERNETES / "overlays").iterdir() if p.is_dir())
UID = 10001


# --- Dockerfile ------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """Split a Dockerfile into (INSTRUCTION, arguments), joining continued lines."""
    instructions, pending = [], ""
    for line in text.splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Group the instructions by build stage, each starting at its FROM."""
    grouped: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions:
        if keyword == "FROM":
            grouped.append([])
        if grouped:
            grouped[-1].append((keyword, arguments))
    return grouped


DOCKERFILE = dockerfile_instructions((ROOT / "Dockerfile").read_text())
RUNTIME = stages(DOCKERFILE)[-1]


def runtime_arguments(keyword: str) -> list[str]:
    """Return the arguments of every KEYWORD instruction in the runtime stage."""
    return [arguments for k, arguments in RUNTIME if k == keyword]


def test_dockerfile_builds_in_two_stages_on_a_slim_base_chosen_by_an_arg():
    froms = [arguments for keyword, arguments in DOCKERFILE if keyword == "FROM"]

    assert DOCKERFILE[0][0] == "ARG"
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.\d+-slim", DOCKERFILE[0][1])
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]


def test_runtime_installs_only_the_builders_wheels_and_no_compiler():
    runs = " ".join(runtime_arguments("RUN"))

    assert "--mount=type=bind,from=builder,source=/wheels" in runs
    assert "--no-index" in runs
    assert not re.search(r"apt-get|gcc|build-essential|pip wheel", runs)


def test_runtime_copies_only_what_the_service_needs():
    sources = [arguments.split()[1:-1] for arguments in runtime_arguments("COPY")]

    assert sources == [["migrations/"], ["wsgi.py", "gunicorn.conf.py", "docker-entrypoint.sh"]]
    assert all(a.startswith(f"--chown={UID}:{UID} ") for a in runtime_arguments("COPY"))


def test_runtime_runs_as_a_fixed_non_root_user_set_after_every_build_step():
    keywords = [keyword for keyword, _ in RUNTIME]
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")

    assert runtime_arguments("USER") == [f"{UID}:{UID}"]
    assert not {"RUN", "COPY", "ADD"} & set(keywords[last_user:])
    assert f"--uid {UID}" in " ".join(runtime_arguments("RUN"))


def test_runtime_environment_and_port():
    env = " ".join(runtime_arguments("ENV"))

    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus" in env  # under the pod's /tmp emptyDir
    assert "MALLOC_ARENA_MAX=2" in env  # worker RSS after `make bench`: 70 -> 65 MiB
    assert runtime_arguments("EXPOSE") == ["8000"]


def test_the_bench_serves_with_the_images_environment():
    env = " ".join(runtime_arguments("ENV")).split()

    assert {f"{name}={value}" for name, value in IMAGE_ENV.items()} <= set(env)


def exec_form(arguments: str) -> list[str]:
    """Parse a JSON (exec-form) argument list; fail if it is shell form."""
    parsed = json.loads(arguments)
    assert isinstance(parsed, list)
    return parsed


def test_entrypoint_is_exec_form_and_serves_by_default():
    (entrypoint,) = runtime_arguments("ENTRYPOINT")
    (cmd,) = runtime_arguments("CMD")

    assert exec_form(entrypoint) == ["/app/docker-entrypoint.sh"]
    assert exec_form(cmd) == ["serve"]
    assert os.access(ROOT / "docker-entrypoint.sh", os.X_OK)


def test_the_flask_cli_runs_in_the_image_as_exec_reaches_it():
    """`docker compose exec web flask --app wsgi ...` skips the entrypoint: PATH and WORKDIR."""
    env = " ".join(runtime_arguments("ENV")).split()

    assert "PATH=/opt/venv/bin:$PATH" in env
    assert runtime_arguments("WORKDIR") == ["/app"]
    assert "wsgi.py" in runtime_arguments("COPY")[-1].split()


def test_healthcheck_calls_livez_with_python(route_paths):
    (healthcheck,) = runtime_arguments("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    argv = exec_form(command)

    assert argv[:2] == ["python", "-c"]
    assert "/livez" in argv[2] and "/livez" in route_paths
    assert "--timeout=" in options and "--start-period=" in options


# --- .dockerignore ---------------------------------------------------------------------


def docker_pattern(pattern: str) -> re.Pattern[str]:
    """Translate a .dockerignore pattern as Docker does: anchored at the context root."""
    pattern = posixpath.normpath(pattern).lstrip("/")
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            i += 3 if pattern.startswith("**/", i) else 2
            regex += "(.*/)?" if i < len(pattern) else ".*"
            continue
        char = pattern[i]
        regex += {"*": "[^/]*", "?": "[^/]"}.get(char, char if char in "[]" else re.escape(char))
        i += 1
    return re.compile(f"^{regex}$")


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """Return (is_exception, pattern) for each rule, in order."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), docker_pattern(line.removeprefix("!"))))
    return rules


def ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Tell whether PATH stays out of the context: the last rule matching it or a parent wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for is_exception, pattern in rules:
        if any(pattern.match(prefix) for prefix in prefixes):
            result = not is_exception
    return result


@pytest.mark.parametrize(
    ("rules", "path", "expected"),
    [
        ("*/temp*", "somedir/temporary.txt", True),
        ("*/temp*", "temp.txt", False),
        ("*/*/temp*", "a/b/temp.txt", True),
        ("*/*/temp*", "a/temp.txt", False),
        ("temp?", "tempa", True),
        ("temp?", "tempab", False),
        ("**/*.go", "a.go", True),
        ("**/*.go", "x/y/a.go", True),
        ("*.md\n!README.md", "README.md", False),
        ("*.md\n!README.md", "CHANGES.md", True),
        ("__pycache__/", "__pycache__/a.pyc", True),
        ("__pycache__/", "service/__pycache__/a.pyc", False),
        ("**/__pycache__", "service/__pycache__/a.pyc", True),
        ("secrets", "secrets/jwt_secret", True),
    ],
)
def test_dockerignore_matcher_follows_dockers_rules(rules, path, expected):
    assert ignored(path, dockerignore_rules(rules)) is expected


DOCKERIGNORE = dockerignore_rules((ROOT / ".dockerignore").read_text())

PLANTED = [
    ".env",
    ".env.production",
    "deploy/.env",
    "secrets/jwt_secret",
    "deploy/secrets/database_url",
    "instance/jwt_secret",
    "instance/time_tracker.db",
    "time_tracker.db",
    "service/local.db-wal",
    "service/local.db-shm",
    "service/local.db-journal",
    "service/__pycache__/db.cpython-311.pyc",
    "service/api/__pycache__/health.cpython-312.pyc",
    "stray.pyo",
    ".pytest_cache/v/cache/nodeids",
    ".ruff_cache/0.1/x",
    ".coverage",
    "htmlcov/index.html",
    ".venv/bin/python",
    ".git/HEAD",
    "tests/test_health.py",
    "bench/run.py",
    "time_tracker_service.egg-info/PKG-INFO",
    "gunicorn.log",
    "dist/time_tracker_service-0.1.0-py3-none-any.whl",
    "build/lib/service/__init__.py",
    "tls.key",
]


def build_context(root: Path) -> set[str]:
    """Walk ROOT like the builder does and return the files the context would send."""
    context = set()
    for directory, dirs, files in os.walk(root):
        relative = Path(directory).relative_to(root).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        dirs[:] = [d for d in dirs if not ignored(prefix + d, DOCKERIGNORE)]
        context.update(prefix + f for f in files if not ignored(prefix + f, DOCKERIGNORE))
    return context


def test_dockerignore_has_no_exceptions_so_pruned_folders_stay_out():
    assert not any(is_exception for is_exception, _ in DOCKERIGNORE)


@pytest.mark.parametrize("path", PLANTED)
def test_no_secret_database_or_cache_file_reaches_the_build_context(path, tmp_path):
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text("x")

    assert build_context(tmp_path) == set()


def test_the_context_holds_what_the_dockerfile_copies_and_nothing_sensitive():
    context = build_context(ROOT)
    copied = [
        source
        for keyword, arguments in DOCKERFILE
        if keyword == "COPY" and "--from" not in arguments
        for source in arguments.split()[:-1]
        if not source.startswith("--")
    ]
    sensitive = re.compile(r"(^|/)(\.env|secrets|instance|\.git|\.venv|tests|__pycache__)(/|$)")

    assert all(any(f.startswith(source.rstrip("/")) for f in context) for source in copied)
    assert not [f for f in context if sensitive.search(f) or re.search(r"\.(db|pyc)$", f)]


# --- Kubernetes -------------------------------------------------------------------------

WEB, WORKER, MIGRATE = "time-tracker", "time-tracker-worker", "time-tracker-migrate"
# Served to the cluster only: the kubelet's probes and Prometheus' scrape.
INTERNAL_ROUTES = {"/livez", "/readyz", "/health", "/metrics"}
# PostgreSQL's defaults: max_connections and superuser_reserved_connections.
POSTGRES_MAX_CONNECTIONS, POSTGRES_RESERVED = 100, 3
# Left for psql sessions, backups and the monitoring's own connections.
CONNECTION_MARGIN = 10


def load_yaml(path: Path) -> dict:
    """Read one YAML document."""
    return yaml.safe_load(path.read_text())


class Manifests:
    """The resources a kustomization renders to, found by kind and name."""

    def __init__(self, directory: Path) -> None:
        kubectl = shutil.which("kubectl")
        assert kubectl, "kubectl renders the kustomizations (make lint-deploy needs it too)"
        rendered = subprocess.run(
            [kubectl, "kustomize", str(directory)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        self.directory = directory
        self.resources = [doc for doc in yaml.safe_load_all(rendered) if doc]

    def all(self, kind: str) -> list[dict]:
        """Return every resource of KIND."""
        return [r for r in self.resources if r["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        """Return the one resource of KIND called NAME."""
        (found,) = [r for r in self.all(kind) if r["metadata"]["name"] == name]
        return found

    def pod(self, name: str) -> dict:
        """Return the pod spec of the Deployment or Job called NAME."""
        kind = "Job" if name == MIGRATE else "Deployment"
        return self.get(kind, name)["spec"]["template"]["spec"]

    def container(self, name: str) -> dict:
        """Return the one container of NAME's pods."""
        (container,) = self.pod(name)["containers"]
        return container

    def pod_labels(self, name: str) -> dict[str, str]:
        """Return the labels of NAME's pods."""
        kind = "Job" if name == MIGRATE else "Deployment"
        return self.get(kind, name)["spec"]["template"]["metadata"]["labels"]

    @property
    def config(self) -> dict[str, str]:
        """The service's settings in the ConfigMap."""
        return self.get("ConfigMap", "time-tracker-config")["data"]


@pytest.fixture(scope="module", params=OVERLAYS, ids=lambda path: path.name)
def overlay(request) -> Manifests:
    """What each overlay renders to."""
    return Manifests(request.param)


def test_there_is_a_production_overlay():
    assert [path.name for path in OVERLAYS] == ["production"]


def test_the_base_lists_every_manifest_beside_it():
    resources = load_yaml(BASE / "kustomization.yaml")["resources"]

    assert set(resources) == {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}


def test_the_image_is_named_only_by_the_overlays_images_setting(overlay):
    (image,) = load_yaml(overlay.directory / "kustomization.yaml")["images"]
    named = re.findall(
        r"^\s*image:\s*(\S+)", "".join(p.read_text() for p in KUBERNETES.rglob("*.yaml")), re.M
    )

    assert image["name"] == "time-tracker" and set(named) == {"time-tracker"}
    for name in (WEB, WORKER, MIGRATE):
        assert overlay.container(name)["image"] == f"{image['newName']}:{image['newTag']}"


def container_port(container: dict, port: int | str) -> int:
    """Resolve a port (a number or a name) to the container's port number."""
    by_name = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    return by_name.get(port, port)


@pytest.mark.parametrize(
    ("probe", "path"),
    [("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")],
)
def test_probes_point_at_real_routes_on_the_images_port(overlay, probe, path, route_paths):
    container = overlay.container(WEB)
    http = container[probe]["httpGet"]

    assert http["path"] == path
    assert path in route_paths
    assert container_port(container, http["port"]) == int(runtime_arguments("EXPOSE")[0])


def test_startup_probe_waits_longer_than_the_database_wait(overlay):
    startup = overlay.container(WEB)["startupProbe"]

    assert startup["periodSeconds"] * startup["failureThreshold"] > int(
        overlay.config["DB_WAIT_TIMEOUT"]
    )


@pytest.mark.parametrize("name", [WEB, WORKER, MIGRATE])
def test_every_pod_runs_locked_down_as_the_images_user(overlay, name):
    pod = overlay.pod(name)
    context = overlay.container(name)["securityContext"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == context["runAsUser"] == UID
    assert pod["automountServiceAccountToken"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert {"name": "tmp", "mountPath": "/tmp"} in overlay.container(name)["volumeMounts"]  # noqa: S108
    assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])


def test_termination_grace_covers_the_prestop_pause_and_the_graceful_timeout(overlay):
    pause = int(overlay.container(WEB)["lifecycle"]["preStop"]["exec"]["command"][-1])
    graceful = int(overlay.config["GRACEFUL_TIMEOUT"])

    assert int(overlay.config["DRAIN_SECONDS"]) < graceful
    assert overlay.pod(WEB)["terminationGracePeriodSeconds"] > pause + graceful


SECRET_FILES = {
    WEB: {"DATABASE_URL_FILE", "JWT_SECRET_FILE", "INTEGRATIONS_KEY_FILE"},
    WORKER: {"DATABASE_URL_FILE", "JWT_SECRET_FILE", "INTEGRATIONS_KEY_FILE"},
    MIGRATE: {"DATABASE_URL_FILE"},
}


@pytest.mark.parametrize("name", [WEB, WORKER, MIGRATE])
def test_secrets_are_files_of_the_one_secret_read_through_the_file_settings(overlay, name):
    container, pod = overlay.container(name), overlay.pod(name)
    env = {item["name"]: item["value"] for item in container["env"]}
    secret_volumes = {v["name"] for v in pod["volumes"] if "secret" in v}
    mounts = [m["mountPath"] for m in container["volumeMounts"] if m["name"] in secret_volumes]
    plain = {name.removesuffix("_FILE") for name in SECRET_FILES[WEB]}

    assert SECRET_FILES[name] <= env.keys()
    assert not plain & (env.keys() | overlay.config.keys())
    assert {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v} == {
        "time-tracker-secrets"
    }
    for setting in SECRET_FILES[name]:
        assert any(env[setting].startswith(f"{mount}/") for mount in mounts)


def test_service_pdb_and_hpa_select_the_web_deployment(overlay):
    labels = overlay.pod_labels(WEB)
    service = overlay.get("Service", WEB)["spec"]
    pdb = overlay.get("PodDisruptionBudget", WEB)["spec"]
    hpa = overlay.get("HorizontalPodAutoscaler", WEB)["spec"]

    assert service["selector"].items() <= labels.items()
    assert container_port(overlay.container(WEB), service["ports"][0]["targetPort"]) == 8000
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert hpa["scaleTargetRef"]["name"] == WEB
    assert hpa["minReplicas"] >= overlay.get("Deployment", WEB)["spec"]["replicas"]


def pods_at_most(deployment: dict, replicas: int) -> int:
    """Pods of DEPLOYMENT during a rollout at REPLICAS: one more per allowed surge."""
    surge = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    assert isinstance(surge, int), "a percentage would hide the count"
    return replicas + surge


def test_the_largest_scale_fits_postgresqls_default_connection_limit(overlay):
    config = overlay.config
    hpa = overlay.get("HorizontalPodAutoscaler", WEB)["spec"]
    web_pods = pods_at_most(overlay.get("Deployment", WEB), hpa["maxReplicas"])
    pool = int(config.get("DB_POOL_SIZE", config["THREADS"]))
    worker = overlay.get("Deployment", WORKER)
    worker_pods = pods_at_most(worker, worker["spec"]["replicas"])
    # service/worker.py: a connection per running job, one per job's heartbeat, one sweep.
    per_worker_pod = 2 * int(config["JOB_WORKERS"]) + 1
    migration_job = 1

    used = web_pods * int(config["WEB_CONCURRENCY"]) * pool
    used += worker_pods * per_worker_pod + migration_job

    assert "HorizontalPodAutoscaler" not in {
        r["kind"] for r in overlay.resources if r["metadata"]["name"] == WORKER
    }
    assert used <= POSTGRES_MAX_CONNECTIONS - POSTGRES_RESERVED - CONNECTION_MARGIN


def test_the_worker_runs_the_same_image_and_settings_outside_the_service(overlay):
    web, worker = overlay.container(WEB), overlay.container(WORKER)
    service = overlay.get("Service", WEB)["spec"]

    assert (worker["image"], worker["args"]) == (web["image"], ["worker"])
    assert worker["envFrom"] == web["envFrom"]
    assert overlay.pod(WORKER)["securityContext"] == overlay.pod(WEB)["securityContext"]
    assert not service["selector"].items() <= overlay.pod_labels(WORKER).items()


def test_the_migration_job_migrates_through_the_images_entrypoint(overlay):
    container = overlay.container(MIGRATE)

    assert "command" not in container
    assert container["args"][-1].endswith("exec python -m service.migrate")
    assert container["envFrom"] == overlay.container(WEB)["envFrom"]
    assert overlay.config["MIGRATE_ON_START"] == "false"


def redis_urls(config: dict[str, str]) -> dict[str, str]:
    """The settings that name the Redis the web and worker pods share."""
    return {name: config[name] for name in ("JOBS_URL", "RATE_LIMIT_STORAGE_URI")}


def test_the_queue_and_the_sign_in_counters_live_in_the_overlays_redis(overlay):
    urls = redis_urls(overlay.config)
    hosts = {urlsplit(url).hostname for url in urls.values()}
    databases = {urlsplit(url).path for url in urls.values()}

    assert all(url.startswith("redis://") for url in urls.values())
    assert len(databases) == 2  # the queue and the counters are kept apart
    (host,) = hosts
    assert overlay.get("Service", host)["spec"]["type"] == "ExternalName"


# --- Ingress and NetworkPolicy ----------------------------------------------------------


def routed(path: str, rule: dict) -> bool:
    """Tell whether an Ingress path RULE sends PATH to the service (Kubernetes' matching)."""
    if rule["pathType"] == "Exact":
        return path == rule["path"]
    prefix = rule["path"].rstrip("/")
    return path == prefix or path.startswith(f"{prefix}/")


def ingress_paths(overlay: Manifests) -> list[dict]:
    """The path rules of the overlay's one Ingress."""
    (ingress,) = overlay.all("Ingress")
    (rule,) = ingress["spec"]["rules"]
    return rule["http"]["paths"]


def test_the_ingress_routes_the_public_paths_to_the_service(overlay):
    paths = ingress_paths(overlay)
    (ingress,) = overlay.all("Ingress")

    assert [(p["path"], p["pathType"]) for p in paths] == [
        ("/api", "Prefix"),
        ("/auth", "Prefix"),
        ("/openapi.json", "Exact"),
        ("/.well-known", "Prefix"),
    ]
    assert {p["backend"]["service"]["name"] for p in paths} == {WEB}
    assert {p["backend"]["service"]["port"]["name"] for p in paths} == {"http"}
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]


def test_every_route_is_public_through_the_ingress_or_kept_inside(overlay, route_paths):
    paths = ingress_paths(overlay)
    public = {route for route in route_paths if any(routed(route, p) for p in paths)}

    assert route_paths - public == INTERNAL_ROUTES
    assert all(any(routed(route, p) for route in route_paths) for p in paths)


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/api", True), ("/api/entries", True), ("/apis", False), ("/metrics", False)],
)
def test_prefix_paths_match_whole_segments_as_kubernetes_does(path, expected):
    assert routed(path, {"path": "/api", "pathType": "Prefix"}) is expected


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """Tell whether a label SELECTOR (matchLabels, matchExpressions In) selects LABELS."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def policies(overlay: Manifests, name: str, direction: str) -> list[dict]:
    """The NetworkPolicies of DIRECTION (Ingress or Egress) that select NAME's pods."""
    return [
        policy["spec"]
        for policy in overlay.all("NetworkPolicy")
        if direction in policy["spec"]["policyTypes"]
        and selects(policy["spec"]["podSelector"], overlay.pod_labels(name))
    ]


def namespaces(rule: dict) -> set[str]:
    """The namespaces a rule's peers name; a peer without one fails the test."""
    peers = rule.get("from") or rule.get("to")
    assert peers, "a rule without peers admits everyone"
    return {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in peers
    }


def test_only_the_ingress_controller_and_monitoring_reach_the_port_serving_metrics(
    overlay, route_paths
):
    container = overlay.container(WEB)
    (policy,) = policies(overlay, WEB, "Ingress")
    ports = {container_port(container, p["port"]) for r in policy["ingress"] for p in r["ports"]}
    served = {p["containerPort"] for p in container["ports"]}
    scrape = overlay.get("Deployment", WEB)["spec"]["template"]["metadata"]["annotations"]

    assert "/metrics" in route_paths and scrape["prometheus.io/path"] == "/metrics"
    # /metrics shares the API's port: a policy cannot tell them apart, the Ingress does.
    assert ports == served == {int(scrape["prometheus.io/port"])}
    assert [namespaces(rule) for rule in policy["ingress"]] == [{"ingress-nginx"}, {"monitoring"}]
    assert not any(routed("/metrics", p) for p in ingress_paths(overlay))


@pytest.mark.parametrize("name", [WORKER, MIGRATE])
def test_the_worker_and_the_job_admit_nothing(overlay, name):
    (policy,) = policies(overlay, name, "Ingress")

    assert "ingress" not in policy
    assert "ports" not in overlay.container(name)


def allowed_egress(overlay: Manifests, name: str) -> dict[tuple[int, str], list[dict]]:
    """Where NAME's pods may connect: (port, protocol) to the peers allowed on it."""
    allowed: dict[tuple[int, str], list[dict]] = {}
    for policy in policies(overlay, name, "Egress"):
        for rule in policy["egress"]:
            assert rule.get("to"), "a rule without peers lets the pods reach everyone"
            for port in rule["ports"]:
                allowed.setdefault((port["port"], port["protocol"]), []).extend(rule["to"])
    return allowed


@pytest.mark.parametrize("name", [WEB, WORKER, MIGRATE])
def test_pods_reach_only_dns_postgresql_redis_and_public_https(overlay, name):
    allowed = allowed_egress(overlay, name)
    redis_ports = {urlsplit(url).port for url in redis_urls(overlay.config).values()}
    private = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}

    assert set(allowed) == {
        (53, "UDP"),
        (53, "TCP"),
        (443, "TCP"),
        (5432, "TCP"),
        *((port, "TCP") for port in redis_ports),
    }
    assert {peer["podSelector"]["matchLabels"]["k8s-app"] for peer in allowed[53, "UDP"]} == {
        "kube-dns"
    }
    public = [peer["ipBlock"] for peer in allowed[443, "TCP"]]
    assert {block["cidr"] for block in public} == {"0.0.0.0/0", "::/0"}
    assert private <= set(public[0]["except"])
    for port in (5432, *redis_ports):
        assert all("cidr" in peer["ipBlock"] for peer in allowed[port, "TCP"])


# --- The Secret, as docs/deployment.md documents it ----------------------------------------

DEPLOYMENT_DOC = (ROOT / "docs" / "deployment.md").read_text()


def test_the_documented_secret_has_every_key_the_pods_read(overlay):
    keys = set(re.findall(r"^\| `(\w+)` \|", DEPLOYMENT_DOC, re.M))
    mounted = {
        Path(item["value"]).name
        for name in (WEB, WORKER, MIGRATE)
        for item in overlay.container(name)["env"]
        if item["name"].endswith("_FILE")
    }

    assert mounted == {"database_url", "jwt_secret", "integrations_key"}
    assert mounted <= keys


def test_the_documented_database_url_points_at_the_clusters_database(overlay):
    (url,) = set(re.findall(r"postgresql://[^\s`\"']*@time-tracker[^\s`\"']*", DEPLOYMENT_DOC))
    parts = urlsplit(url)

    assert overlay.get("Service", parts.hostname)["spec"]["type"] == "ExternalName"
    assert (parts.port, "TCP") in allowed_egress(overlay, WEB)


# --- Compose ------------------------------------------------------------------------------

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]


@pytest.fixture(scope="module")
def route_paths(tmp_path_factory) -> set[str]:
    """The URL paths the real app serves."""
    from service import create_app
    from tests.conftest import settings

    url = f"sqlite:///{tmp_path_factory.mktemp('routes') / 'routes.db'}"
    return {rule.rule for rule in create_app(settings(url)).url_map.iter_rules()}


def test_compose_runs_postgresql_redis_the_web_service_and_the_worker():
    web, worker = SERVICES["web"], SERVICES["worker"]

    assert set(SERVICES) == {"db", "redis", "web", "worker"}
    assert web["image"] == worker["image"] and "build" in web and "build" not in worker
    assert worker["command"] == ["worker"] and "command" not in web


@pytest.mark.parametrize("name", ["db", "redis", "web", "worker"])
def test_every_compose_service_has_a_healthcheck(name):
    assert SERVICES[name]["healthcheck"]["test"][0] == "CMD"


def test_the_web_healthcheck_asks_a_real_route(route_paths):
    (path,) = re.findall(r"127\.0\.0\.1:8000(/\w+)", SERVICES["web"]["healthcheck"]["test"][-1])

    assert path == "/readyz" and path in route_paths


def worker_healthcheck(**env: str) -> subprocess.CompletedProcess:
    """Run compose's worker healthcheck with this venv's python, in ENV."""
    test = SERVICES["worker"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "JOBS_"))}
    return subprocess.run(
        [sys.executable, *test[2:]],
        env=clean | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def local_redis() -> str:
    """A database of the local Redis, or a skip when none answers."""
    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"Redis unreachable at {url}: {exc}")
    return url


def test_the_worker_is_healthy_while_its_redis_and_its_database_answer(postgres_url, local_redis):
    result = worker_healthcheck(DATABASE_URL=postgres_url, JOBS_URL=local_redis)

    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("down", ["JOBS_URL", "DATABASE_URL"])
def test_the_worker_is_unhealthy_when_its_redis_or_its_database_is_down(
    postgres_url, local_redis, down
):
    nothing = f"127.0.0.1:{free_port()}"
    env = {"DATABASE_URL": postgres_url, "JOBS_URL": local_redis}
    env[down] = {"JOBS_URL": f"redis://{nothing}/0", "DATABASE_URL": f"postgresql://x@{nothing}/x"}[
        down
    ]

    assert worker_healthcheck(**env).returncode == 1


def test_compose_starts_each_service_after_what_it_needs_is_healthy():
    healthy = {"condition": "service_healthy"}

    assert SERVICES["web"]["depends_on"] == {"db": healthy, "redis": healthy}
    # The web service migrates, and is healthy (ready) only once it has.
    assert SERVICES["worker"]["depends_on"] == {"db": healthy, "redis": healthy, "web": healthy}


def test_compose_keeps_data_in_named_volumes():
    mounts = {name: s.get("volumes", []) for name, s in SERVICES.items()}

    assert mounts["db"] == ["db-data:/var/lib/postgresql/data"]
    assert mounts["redis"] == ["redis-data:/data"]
    assert set(COMPOSE["volumes"]) == {"db-data", "redis-data"}
    assert not mounts["web"] and not mounts["worker"]


@pytest.mark.parametrize("name", ["web", "worker"])
def test_compose_passes_every_secret_as_a_file_and_shares_redis(name):
    service = SERVICES[name]
    env = service["environment"]

    assert set(service["secrets"]) == {"database_url", "jwt_secret", "integrations_key"}
    for secret in service["secrets"]:
        assert env[f"{secret.upper()}_FILE"] == f"/run/secrets/{secret}"
        assert secret.upper() not in env
    assert {urlsplit(url).hostname for url in redis_urls(env).values()} == {"redis"}
    assert len({urlsplit(url).path for url in redis_urls(env).values()}) == 2
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]


def test_compose_reads_its_secrets_from_the_files_make_secrets_writes():
    made = re.findall(r"^create (\w+) ", (ROOT / "scripts" / "make-secrets").read_text(), re.M)

    assert {name: s["file"] for name, s in COMPOSE["secrets"].items()} == {
        name: f"./secrets/{name}" for name in made
    }
    assert SERVICES["db"]["environment"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/postgres_password"
    )


def test_env_example_lists_every_variable_compose_reads_and_no_other():
    read = set(re.findall(r"\$\{(\w+)", COMPOSE_TEXT))
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^(\w+)=", example, re.M))

    assert read == listed


# --- scripts/make-secrets -----------------------------------------------------------------

MAKE_SECRETS = ROOT / "scripts" / "make-secrets"
SECRET_NAMES = ["postgres_password", "database_url", "jwt_secret", "integrations_key"]


def make_secrets(*args: str) -> subprocess.CompletedProcess:
    """Run scripts/make-secrets with ARGS."""
    return subprocess.run(
        [str(MAKE_SECRETS), *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_make_secrets_writes_secrets_the_service_accepts(tmp_path):
    folder = tmp_path / "secrets"

    result = make_secrets(str(folder))

    files = {name: folder / name for name in SECRET_NAMES}
    assert result.returncode == 0
    assert result.stdout.splitlines() == [f"created  {files[name]}" for name in SECRET_NAMES]
    password = files["postgres_password"].read_text()
    assert files["database_url"].read_text() == (
        f"postgresql://time_tracker:{password}@db:5432/time_tracker"
    )
    config = load_config(
        env={f"{name.upper()}_FILE": str(path) for name, path in files.items()}
        | {"JOBS_URL": "redis://redis:6379/0"}
    )
    assert config["DATABASE_URL"] == files["database_url"].read_text()
    assert config["INTEGRATIONS_KEY"] == files["integrations_key"].read_text()
    assert len(set(path.read_text() for path in files.values())) == len(files)


def test_make_secrets_lets_the_containers_read_the_files_and_only_you_the_folder(tmp_path):
    folder = tmp_path / "secrets"

    make_secrets(str(folder))

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in SECRET_NAMES:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o444


def test_make_secrets_never_overwrites_a_secret(tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "jwt_secret").write_text("kept-" * 10)

    first = make_secrets(str(folder))
    before = {name: (folder / name).read_text() for name in SECRET_NAMES}
    second = make_secrets(str(folder))

    assert f"kept     {folder / 'jwt_secret'} (it exists)" in first.stdout
    assert second.returncode == 0
    assert second.stdout.splitlines() == [
        f"kept     {folder / n} (it exists)" for n in SECRET_NAMES
    ]
    assert {name: (folder / name).read_text() for name in SECRET_NAMES} == before
    assert before["jwt_secret"] == "kept-" * 10


def test_make_secrets_points_the_url_at_another_host_for_a_cluster(tmp_path):
    folder = tmp_path / "kubernetes"

    make_secrets(str(folder), "time-tracker-postgres:5432")

    password = (folder / "postgres_password").read_text()
    assert (folder / "database_url").read_text() == (
        f"postgresql://time_tracker:{password}@time-tracker-postgres:5432/time_tracker"
    )


def test_make_secrets_refuses_a_database_url_without_its_password(tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "database_url").write_text("postgresql://time_tracker:old@db:5432/time_tracker")

    result = make_secrets(str(folder))

    assert result.returncode == 1
    assert "database_url exists without" in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["database_url"]
