"""Resuming a search: what it keeps, what it says, and how an interrupted search tells the user to go on."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import search_helpers

import trw_ray as trw
from trw_ray.hparams.tuning.driver import _recorded_trainable
from trw_ray.hparams.tuning.recorder import SearchRecorder
from trw_ray.results import load


def test_a_resumed_search_finds_its_importable_function_and_names_a_scripts_one(ray_local, tmp_path):
    first = trw.hparams.search(search_helpers.quadratic, num_samples=2, seed=0, storage_path=tmp_path, name="again",
                               verbose=0)
    with pytest.warns(UserWarning, match="keeps its num_samples=2 .*got 5"):
        again = trw.hparams.search(storage_path=tmp_path, name="again", num_samples=5, verbose=0)  # no function given
    assert len(again.trials()) == len(first.trials()) == 2
    with pytest.raises(ValueError, match=r"evaluate_fn: resuming '/x/exp' needs the function it ran \(recorded as "
                                         r"'__main__:fit'\); pass it again: search\(fit, name='exp'"):
        _recorded_trainable({"evaluate_fn": "__main__:fit"}, Path("/x/exp"))


def test_the_progress_line_of_a_resumed_search_counts_the_trials_on_record_and_its_own_time(tmp_path):
    trials = tmp_path / "trw_ray" / "trials"
    trials.mkdir(parents=True)
    (trials / "t1.json").write_text(json.dumps({"trial_id": "t1", "config": {"x": 0.25}, "completed": True,
                                                "last_result": {"loss": 0.125}}))
    recorder = SearchRecorder(tmp_path, "loss", "min", progress_every_s=10)
    recorder._started -= 3600  # pickled when the search was created, an hour ago
    recorder.setup()
    line = recorder.progress_line([])
    assert line.startswith("[0 s]") and "best loss 0.125 (trial t1: x=0.25)" in line, line


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume_the_trw_ray_way_and_raises(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    code = f"import search_helpers; search_helpers.run_interrupted_driver({str(tmp_path)!r}, 'stopped')"
    driver = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            time.sleep(0.5)
            if (tmp_path / "stopped" / "trw_ray" / "search.json").is_file():
                trials = load(tmp_path / "stopped").trials()
                if len(trials) and trials["completed"].any():
                    break
        driver.send_signal(signal.SIGINT)
        stdout, stderr = driver.communicate(timeout=60)
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # the driver's own Ray processes
        except ProcessLookupError:
            pass
    assert "KeyboardInterrupt: search 'stopped' interrupted" in stdout, (stdout, stderr[-3000:])
    assert "returned as if finished" not in stdout
    assert "trw_ray: the search was interrupted" in stderr and "name='stopped'" in stderr, stderr[-3000:]
    assert "Tuner.restore" not in stderr
    assert driver.returncode != 0
