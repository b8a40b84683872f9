"""A real multi-node cluster on 127.0.0.1 (marker ``cluster``, ``make test-cluster``): token authentication, a head
without CPUs for trials and two 1-CPU worker nodes started with ``ray start``; a search submitted through the Jobs
API; one worker node killed (its raylet and workers, by the PIDs this test started) while a trial runs on it."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(480),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

HERE = Path(__file__).resolve().parent
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Node:
    """One ``ray start --block`` process (the parent of its raylet, agents and workers) in its own session."""

    def __init__(self, arguments: list[str], environment: dict[str, str], log: Path):
        self.log = open(log, "w")  # noqa: SIM115 - closed in kill()
        self.process = subprocess.Popen([RAY, "start", "--block", "--node-ip-address=127.0.0.1",
                                         "--disable-usage-stats", *arguments], env=environment,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_started(self, log: Path, timeout: float = 120.0) -> None:
        """Until ``ray start`` says it is up (a node that died on the way fails the test with its log)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = log.read_text(errors="replace")
            if "block forever" in text:
                return
            assert self.process.poll() is None, text[-3000:]
            time.sleep(0.5)
        raise AssertionError(f"ray start did not finish in {timeout} s: {log.read_text()[-3000:]}")

    def pids(self) -> list[int]:
        return [self.process.pid, *_descendants(self.process.pid)]

    def kill(self) -> list[int]:
        pids = self.pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=30)
        self.log.close()
        return pids


def _ray_ports() -> list[str]:
    names = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port")
    return [f"{name}={_free_port()}" for name in names]


def test_a_search_survives_a_worker_node_killed_mid_trial(tmp_path):
    token = secrets.token_hex(16)
    environment = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_USAGE_STATS_ENABLED": "0",
                   # the dead node is seen in seconds, not the default half minute
                   "RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "1000",
                   "RAY_health_check_failure_threshold": "3", "RAY_health_check_initial_delay_ms": "1000",
                   "RAY_raylet_start_wait_time_s": "120",
                   "TRW_RAY_LOGGING_ROOT": str(tmp_path / "logs")}
    environment.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # single-machine mode refuses other nodes
    environment.pop("RAY_ADDRESS", None)
    gcs, dashboard = _free_port(), _free_port()
    nodes: list[Node] = []
    started = time.time()
    storage = tmp_path / "searches"
    ray_temp = Path(tempfile.mkdtemp(prefix="trw_", dir="/tmp"))  # Ray's socket paths must stay under 107 bytes
    try:
        nodes.append(Node(["--head", f"--port={gcs}", "--num-cpus=0", "--include-dashboard=true",
                           "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
                           f"--ray-client-server-port={_free_port()}", f"--temp-dir={ray_temp}",
                           *_ray_ports()], environment, tmp_path / "head.log"))
        nodes[0].wait_started(tmp_path / "head.log")
        for index in range(2):  # one at a time: on 2 busy cores a node starting beside another can time out
            log = tmp_path / f"worker{index}.log"
            nodes.append(Node([f"--address=127.0.0.1:{gcs}", "--num-cpus=1", f"--resources={{\"worker{index}\": 1}}",
                               *_ray_ports()], environment, log))
            nodes[-1].wait_started(log)
        address = f"http://127.0.0.1:{dashboard}"
        submit = [RAY, "job", "submit", "--address", address, "--no-wait", "--submission-id", "search", "--",
                  sys.executable, "-m", "trw_ray.cli", "search", str(HERE / "mnist_cluster.yaml"), "--seed", "0",
                  "--max-failures", "2", "--storage-path", str(storage), "--name", "killed", "--no-report"]
        for _ in range(90):  # the Jobs API answers once the head's dashboard is up
            assert nodes[0].process.poll() is None, (tmp_path / "head.log").read_text()[-3000:]
            completed = subprocess.run(submit, env=environment, capture_output=True, text=True, timeout=60,
                                       check=False)
            if completed.returncode == 0:
                break
            time.sleep(1)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        without_token = subprocess.run([RAY, "job", "list", "--address", address], capture_output=True, text=True,
                                       timeout=60, check=False,
                                       env={k: v for k, v in environment.items() if k != "RAY_AUTH_TOKEN"}
                                       | {"HOME": str(tmp_path)})
        assert without_token.returncode != 0  # the Jobs API refuses a caller without the token

        from trw_ray.results import load

        experiment = storage / "killed"
        victim, killed_at, seen_running = None, None, False
        while victim is None and time.time() - started < 300:
            time.sleep(0.5)
            if not (experiment / "trw_ray" / "search.json").is_file():
                continue
            results = load(experiment)  # read from another process while the search runs
            history = results.history()
            running = [record for record in results.records() if record.get("status") == "RUNNING"]
            if len(history) and len(running) == 2:
                seen_running = True
                epochs = history.groupby("trial_id")["training_iteration"].max()
                if all(epochs.get(r["trial_id"], 0) >= 2 for r in running):
                    # both worker nodes run a trial (one CPU each): kill one of them, all of its processes
                    victim = nodes[1].kill()
                    killed_at = time.time()
        assert victim is not None and seen_running, "no moment with two trials past epoch 2 on the two nodes"
        for _ in range(40):  # SIGKILLed processes disappear once the kernel has torn them down
            if not any(_alive(pid) for pid in victim):
                break
            time.sleep(0.25)
        assert not any(_alive(pid) for pid in victim), [pid for pid in victim if _alive(pid)]

        status = ""
        while time.time() - started < 420:
            status = subprocess.run([RAY, "job", "status", "--address", address, "search"], env=environment,
                                    capture_output=True, text=True, timeout=60, check=False).stdout
            if any(word in status.lower() for word in ("succeeded", "failed", "stopped")):
                break
            time.sleep(1)
        ended = time.time()
        assert "succeeded" in status.lower(), status + (tmp_path / "head.log").read_text()[-3000:]

        results = load(experiment)
        trials = results.trials()
        assert len(trials) == 4 and set(trials["status"]) == {"TERMINATED"} and trials["completed"].all(), trials
        history = results.history()
        for trial_id, rows in history.groupby("trial_id"):
            assert rows["training_iteration"].tolist() == [1, 2, 3, 4, 5, 6], (trial_id, rows)
        retried = [record for record in results.records() if record.get("retries")]
        assert len(retried) == 1 and int(trials.loc[trials["trial_id"] == retried[0]["trial_id"], "failures"].iloc[0]) == 1
        retry = retried[0]["retries"][0]
        assert retry["resumed_from_epoch"] >= 1  # from its checkpoint, not from scratch
        resumed_rows = [json.loads(line) for line in (experiment / "trw_ray" / "history.jsonl").read_text().splitlines()
                        if json.loads(line)["trial_id"] == retried[0]["trial_id"]]
        resumed_at = next(row["recorded_at"] for row in resumed_rows
                          if row["recorded_at"] > killed_at and row["training_iteration"] == retry["resumed_from_epoch"] + 1)
        print(f"\nnode killed {killed_at - started:.1f} s after the start; death seen (retry recorded) after "
              f"{retry['at'] - killed_at:.1f} s; the trial's next epoch (resumed from epoch {retry['resumed_from_epoch']}) "
              f"after {resumed_at - killed_at:.1f} s; search done {ended - started:.1f} s after the start")
    finally:
        started_pids = [pid for node in nodes for pid in node.pids() if node.process.poll() is None]
        for node in reversed(nodes):
            if node.process.poll() is None:
                node.kill()
        time.sleep(1)
        left = [pid for pid in started_pids if _alive(pid)]
        shutil.rmtree(ray_temp, ignore_errors=True)
        assert not left, f"processes of the test left: {left}"
