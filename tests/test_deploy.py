"""Deployment policy: the Dockerfile, the build context and the manifests, parsed and checked."""

from __future__ import annotations

import json
import os
import posixpath
import re
from pathlib import Path

import pytest
import yaml

from bench.servers import IMAGE_ENV
from tests.servers import ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"
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


# --- Kubernetes and compose ------------------------------------------------------------


def load_yaml(path: Path) -> dict:
    """Read one YAML document."""
    return yaml.safe_load(path.read_text())


KUSTOMIZATION = load_yaml(KUBERNETES / "kustomization.yaml")
DEPLOYMENT = load_yaml(KUBERNETES / "deployment.yaml")
WORKER = load_yaml(KUBERNETES / "worker-deployment.yaml")
POD = DEPLOYMENT["spec"]["template"]["spec"]
(CONTAINER,) = POD["containers"]
CONFIG = load_yaml(KUBERNETES / "configmap.yaml")["data"]


@pytest.fixture(scope="module")
def route_paths(tmp_path_factory) -> set[str]:
    """The URL paths the real app serves."""
    from service import create_app
    from tests.conftest import settings

    url = f"sqlite:///{tmp_path_factory.mktemp('routes') / 'routes.db'}"
    return {rule.rule for rule in create_app(settings(url)).url_map.iter_rules()}


def test_kustomization_lists_every_manifest_but_the_optional_migration_job():
    files = {p.name for p in KUBERNETES.glob("*.yaml")}

    assert set(KUSTOMIZATION["resources"]) == files - {"kustomization.yaml", "migration-job.yaml"}


def container_port(port: int | str) -> int:
    """Resolve a probe's port (a number or a name) to the container's port number."""
    by_name = {p["name"]: p["containerPort"] for p in CONTAINER["ports"]}
    return by_name.get(port, port)


@pytest.mark.parametrize(
    ("probe", "path"),
    [("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")],
)
def test_probes_point_at_real_routes_on_the_container_port(probe, path, route_paths):
    http = CONTAINER[probe]["httpGet"]

    assert http["path"] == path
    assert path in route_paths
    assert container_port(http["port"]) == int(runtime_arguments("EXPOSE")[0])


def test_startup_probe_waits_longer_than_the_database_wait():
    startup = CONTAINER["startupProbe"]

    assert startup["periodSeconds"] * startup["failureThreshold"] > int(CONFIG["DB_WAIT_TIMEOUT"])


def test_pod_runs_locked_down_as_the_images_user():
    context = CONTAINER["securityContext"]

    assert POD["securityContext"]["runAsNonRoot"] is True
    assert POD["securityContext"]["runAsUser"] == context["runAsUser"] == UID
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert {"name": "tmp", "mountPath": "/tmp"} in CONTAINER["volumeMounts"]  # noqa: S108
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in POD["volumes"]


def test_termination_grace_covers_the_prestop_pause_and_the_graceful_timeout():
    pause = int(CONTAINER["lifecycle"]["preStop"]["exec"]["command"][-1])
    graceful = int(CONFIG["GRACEFUL_TIMEOUT"])

    assert int(CONFIG["DRAIN_SECONDS"]) < graceful
    assert POD["terminationGracePeriodSeconds"] > pause + graceful


def test_secrets_are_mounted_files_read_through_the_file_settings():
    env = {item["name"]: item["value"] for item in CONTAINER["env"]}
    secret_volumes = {v["name"] for v in POD["volumes"] if "secret" in v}
    mounts = CONTAINER["volumeMounts"]
    secret_mounts = [m["mountPath"] for m in mounts if m["name"] in secret_volumes]

    assert {"DATABASE_URL_FILE", "JWT_SECRET_FILE"} <= env.keys()
    assert not {"DATABASE_URL", "JWT_SECRET"} & (env.keys() | CONFIG.keys())
    for name in ("DATABASE_URL_FILE", "JWT_SECRET_FILE"):
        assert any(env[name].startswith(f"{mount}/") for mount in secret_mounts)


def test_service_pdb_and_hpa_select_the_deployment():
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    service = load_yaml(KUBERNETES / "service.yaml")["spec"]
    pdb = load_yaml(KUBERNETES / "poddisruptionbudget.yaml")["spec"]
    hpa = load_yaml(KUBERNETES / "horizontalpodautoscaler.yaml")["spec"]

    assert DEPLOYMENT["spec"]["replicas"] == 3
    assert service["selector"].items() <= labels.items()
    assert container_port(service["ports"][0]["targetPort"]) == 8000
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert hpa["scaleTargetRef"]["name"] == DEPLOYMENT["metadata"]["name"]
    assert hpa["minReplicas"] >= DEPLOYMENT["spec"]["replicas"]


def test_the_largest_scale_fits_postgresqls_default_connection_limit():
    hpa = load_yaml(KUBERNETES / "horizontalpodautoscaler.yaml")["spec"]
    per_pod = int(CONFIG["WEB_CONCURRENCY"]) * int(CONFIG["THREADS"])
    workers = WORKER["spec"]["replicas"] * (2 * int(CONFIG["JOB_WORKERS"]) + 1)
    migration_runner = 1
    usable = 100 - 3  # max_connections minus superuser_reserved_connections

    assert hpa["maxReplicas"] * per_pod + workers + migration_runner <= usable


def test_the_worker_runs_the_same_image_locked_down_and_outside_the_service():
    pod = WORKER["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    service = load_yaml(KUBERNETES / "service.yaml")["spec"]

    assert (container["image"], container["args"]) == ("time-tracker", ["worker"])
    assert pod["securityContext"] == DEPLOYMENT["spec"]["template"]["spec"]["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert (
        not service["selector"].items() <= WORKER["spec"]["template"]["metadata"]["labels"].items()
    )
    assert CONFIG["JOBS_URL"].startswith("redis://")


def test_compose_passes_secrets_as_files_and_waits_for_a_healthy_database():
    compose = load_yaml(ROOT / "docker-compose.yml")
    web = compose["services"]["web"]

    assert web["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert "healthcheck" in compose["services"]["db"]
    assert set(web["secrets"]) == {"database_url", "jwt_secret"}
    assert not {"DATABASE_URL", "JWT_SECRET"} & web["environment"].keys()
    assert all(s["file"].startswith("./secrets/") for s in compose["secrets"].values())


def test_the_migration_job_goes_through_the_images_entrypoint():
    job = load_yaml(KUBERNETES / "migration-job.yaml")["spec"]["template"]["spec"]
    (container,) = job["containers"]

    assert "command" not in container
    assert container["args"][-1].endswith("exec python -m service.migrate")
    assert job["securityContext"]["runAsUser"] == UID
