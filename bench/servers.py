"""Start apps under gunicorn with the repo's gunicorn.conf.py, find their workers, stop them."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from tests.servers import GUNICORN
from tests.servers import free_port
from tests.servers import worker_pids

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# What the Dockerfile sets for every process of the image, given to every server here.
IMAGE_ENV = {"MALLOC_ARENA_MAX": "2"}


@dataclass
class Server:
    """One gunicorn master serving APP on 127.0.0.1:PORT."""

    name: str
    app: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, probe_path: str, log_dir: Path) -> None:
        """Start gunicorn and wait until PROBE_PATH answers 200."""
        env = {**os.environ, **IMAGE_ENV, **self.env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        log = (log_dir / f"{self.name}.log").open("wb")
        self.process = subprocess.Popen(
            [*GUNICORN, self.app],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {log.name}")
            try:
                with urllib.request.urlopen(self.url + probe_path, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {probe_path} in {START_TIMEOUT} s")

    def worker_pids(self) -> list[int]:
        """Return the pids of the master's worker processes."""
        return worker_pids(self)

    def worker_cpu_seconds(self) -> dict[int, float]:
        """Return each worker's CPU time so far (user + system), by pid."""
        used = {}
        for pid in self.worker_pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except FileNotFoundError:  # recycled since the master listed it
                continue
            fields = stat.rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return used

    def worker_rss_mib(self) -> list[float]:
        """Return each worker's resident set size in MiB."""
        sizes = []
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(round(int(line.split()[1]) / 1024, 1))
        return sizes

    def stop(self) -> None:
        """Stop gunicorn at once (SIGINT: no graceful drain) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def service_env(url: str, metrics_dir: Path) -> dict[str, str]:
    """Return the service's settings as the image runs it, its metrics in METRICS_DIR."""
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    return {
        "APP_ENV": "production",
        "DATABASE_URL": url,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "ACCESS_TOKEN_TTL": "7200",
        "DRAIN_SECONDS": "0",
        # Required in production; the bench queues no job through it.
        "JOBS_URL": f"sqlite:///{metrics_dir.parent / 'jobs.db'}",
        # The API limit stays on, so its cost is measured, but at a rate no run reaches.
        "RATE_LIMIT_API": "100000000 per minute",
        # As in the image: every worker's metrics in files, summed by /metrics.
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
