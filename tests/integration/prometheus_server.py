"""A private Prometheus (Debian's /usr/bin/prometheus) for end-to-end tests.

`prometheus_factory(targets, ...)` writes a configuration with one scrape
job (every second by default), starts Prometheus on a free port with its
storage in the test's tmp directory, waits until it is ready, and stops it
at teardown. `scheme`, `tls_config` and `basic_auth` go into the job as
Prometheus reads them, so a TLS or authenticated endpoint is scraped by
passing them; `rule_files` are loaded and evaluated at the scrape interval
(no targets: a Prometheus that only loads rules); `flags` are more
command-line flags (e.g. `--enable-feature=native-histograms`, with which
2.42 asks for protobuf). Queries go through the HTTP API (/api/v1/query,
/api/v1/rules).
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import free_port, stop_process, wait_for

PROMETHEUS = "/usr/bin/prometheus"


class Prometheus:
    def __init__(self, tmp: Path, targets, job="gpx", scrape_interval="1s", metrics_path="/metrics",
                 scheme=None, tls_config=None, basic_auth=None, rule_files=(), flags=()):
        self.job = job
        self.flags = list(flags)
        self.port = free_port()
        self.dir = tmp / f"prometheus-{self.port}"
        self.dir.mkdir()
        scrape = {
            "job_name": job,
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "metrics_path": metrics_path,
            "static_configs": [{"targets": list(targets)}],
        }
        if scheme is not None:
            scrape["scheme"] = scheme
        if tls_config is not None:
            scrape["tls_config"] = tls_config
        if basic_auth is not None:
            scrape["basic_auth"] = basic_auth
        self.config = {"global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
                       "rule_files": [str(f) for f in rule_files],
                       "scrape_configs": [scrape] if targets else []}
        # JSON is YAML: Prometheus reads it as its configuration.
        self.config_path = self.dir / "prometheus.yml"
        self.config_path.write_text(json.dumps(self.config, indent=2))
        self.log_path = self.dir / "prometheus.log"
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30.0):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.config_path}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn", *self.flags],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.output()}")
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200

        wait_for(ready, timeout, what=f"prometheus on {self.port}")
        return self

    def stop(self):
        if self.proc is None:
            return
        stop_process(self.proc, signal.SIGTERM, 10)
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- HTTP API -----------------------------------------------------------
    def query(self, expr: str) -> list[dict]:
        """The instant vector of `expr` now: [{"metric": {...}, "value": [t, "v"]}, ...]."""
        r = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        r.raise_for_status()
        body = r.json()
        assert body["status"] == "success", body
        assert body["data"]["resultType"] == "vector", body
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The single value of `expr`, or None when the vector is empty."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} has {len(result)} series"
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, expr: str, expected: float, timeout=30.0) -> float:
        return wait_for(lambda: self.value(expr) == expected, timeout, interval=0.25,
                        what=f"{expr} == {expected} (prometheus log:\n{self.output()[-2000:]})")

    def rules(self) -> list[dict]:
        """Every rule of every group as the rules API shows it (name, query,
        health, last evaluation, ...)."""
        r = requests.get(f"{self.url}/api/v1/rules", timeout=5)
        r.raise_for_status()
        return [rule for group in r.json()["data"]["groups"] for rule in group["rules"]]

    def targets(self) -> list[dict]:
        r = requests.get(f"{self.url}/api/v1/targets", timeout=5)
        r.raise_for_status()
        return r.json()["data"]["activeTargets"]


@pytest.fixture
def prometheus_factory(tmp_path):
    started = []

    def make(targets, **kw) -> Prometheus:
        p = Prometheus(tmp_path, targets, **kw)
        started.append(p)
        return p.start()

    yield make
    for p in started:
        p.stop()
