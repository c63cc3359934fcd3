"""`prover eval --ray-address` against a real Ray cluster on this machine: a head node (`ray start
--head`) and a second node process (`ray start --address=...`), loopback only.  The cluster gives the
rows of a run in one process; a node killed in the middle of a run has its jobs retried on the other
one, and no row is lost or doubled.

The cluster's processes are this test's own: both `ray start` commands run with `--block` as children
of the test, and teardown kills exactly their process trees (never `ray stop`, which would stop every
Ray process on the machine).  Ray's node health check is shortened (environment variables read by
the head's GCS) so that a killed node is declared dead in seconds."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from core.jsonl import read_jsonl

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
RAY = Path(sys.executable).parent / "ray"
PROVER = Path(sys.executable).parent / "prover"
WORLD = "tests/data/distributed_world.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL `proc` and every process it started (by pid, children first found, then it)."""
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        kids = []
    for p in [*kids, psutil.Process(proc.pid)] if proc.poll() is None else kids:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=30)


class Cluster:
    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # Ray's socket paths must stay short
        self.env = {**os.environ, "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
                    "RAY_health_check_initial_delay_ms": "1000", "RAY_USAGE_STATS_ENABLED": "0",
                    "RAY_AUTH_MODE": "disabled",  # a loopback test cluster; see docs/expert_iteration.md for tokens
                    "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
        self.logs = root
        self.head = self._start("head", ["--head", f"--port={self.port}", "--num-cpus=1", "--include-dashboard=false",
                                         f"--temp-dir={self.temp}"])
        self.node: subprocess.Popen | None = None
        try:
            self._wait_for_cpus(1)
            self.node = self.add_node()
        except BaseException:
            self.close()
            raise

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        return subprocess.Popen([str(RAY), "start", "--block", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
                                 f"--dashboard-agent-listen-port={_free_port()}", *args],
                                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def add_node(self) -> subprocess.Popen:
        node = self._start("node", [f"--address={self.address}", "--num-cpus=2"])
        self._wait_for_cpus(3)
        return node

    def cpus(self) -> float:
        out = subprocess.run([str(RAY), "status", f"--address={self.address}"], capture_output=True, text=True,
                             timeout=60, env=self.env).stdout
        m = re.search(r"/([\d.]+) CPU", out)
        return float(m.group(1)) if m else 0.0

    def _wait_for_cpus(self, n: float, timeout: float = 240) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.head.poll() is not None:
                raise RuntimeError(f"ray head exited: {(self.logs / 'head.log').read_text()[-2000:]}")
            if self.cpus() >= n:
                return
            time.sleep(2)
        raise TimeoutError(f"the Ray cluster did not reach {n} CPUs in {timeout}s")

    def close(self) -> None:
        for proc in (self.node, self.head):
            if proc is not None:
                _kill_tree(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not RAY.exists():
        pytest.skip("the ray command is not installed")
    c = Cluster(tmp_path_factory.mktemp("ray"))
    try:
        yield c
    finally:
        c.close()


def _eval(out: Path, env: str, *extra: str, wait: bool = True, cluster: Cluster | None = None) -> subprocess.Popen:
    cmd = [str(PROVER), "eval", "--dataset", f"scripted:{WORLD}", "--env", env, "--policy", f"scripted:{WORLD}",
           "--strategy", "best-first", "--budget", "expansions=16", "--attempts", "2", "--out", str(out),
           "--no-progress", *extra]
    proc = subprocess.Popen(cmd, cwd=REPO, env=cluster.env if cluster else {**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        proc.wait(timeout=600)
    return proc


def _rows(out: Path) -> list[dict]:
    """The result rows without what depends on timing or on the run's settings hash."""
    def clean(d: dict) -> dict:
        return {k: clean(v) if isinstance(v, dict) else v for k, v in d.items()
                if not k.endswith("seconds") and k != "run_hash"}

    return sorted((clean(r) for r in read_jsonl(out / "results.jsonl")), key=lambda r: (r["name"], r["attempt"]))


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("local") / "run"
    proc = _eval(out, f"double:{WORLD}")
    assert proc.returncode == 0, proc.stderr.read()
    return _rows(out)


def test_a_run_on_the_cluster_gives_the_rows_of_a_local_run(cluster: Cluster, local_rows, tmp_path: Path) -> None:
    out = tmp_path / "cluster"
    proc = _eval(out, f"double:{WORLD},tactic_ms=50", "--workers", "3", "--ray-address", cluster.address,
                 cluster=cluster)
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    rows = _rows(out)
    assert len(rows) == len(local_rows) == 16
    assert rows == local_rows
    print(f"cluster run: {len(rows)} rows, equal to the local run's; {proc.stdout.read().splitlines()[0]}")


def test_a_node_killed_mid_run_loses_and_doubles_no_row(cluster: Cluster, local_rows, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = _eval(out, f"double:{WORLD},tactic_ms=400", "--workers", "3", "--ray-address", cluster.address,
                 wait=False, cluster=cluster)
    results = out / "results.jsonl"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 300:  # wait until the run is under way
        if results.is_file() and len(results.read_text().splitlines()) >= 3:
            break
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.2)
    before = len(results.read_text().splitlines())
    _kill_tree(cluster.node)  # the second node and its workers die in the middle of their jobs
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert before < 16, "the run finished before the node was killed: make the jobs slower"
    lost = re.findall(r"worker lost \((\w+)\)", stderr)
    assert lost, stderr  # the killed node's jobs were lost ...
    rows = _rows(out)
    keys = [(r["name"], r["attempt"]) for r in rows]
    assert len(keys) == len(set(keys)) == 16  # ... and retried on the head: none lost, none doubled
    assert rows == local_rows
    print(json.dumps({"rows_before_kill": before, "jobs_lost_with_the_node": len(lost), "rows_after": len(rows),
                      "equal_to_local": rows == local_rows}))
    cluster.node = cluster.add_node()  # leave the cluster as the fixture made it
