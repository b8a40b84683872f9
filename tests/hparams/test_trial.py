"""A trial's process state: seeds and torch threads, also when the trial imports torch late (no Ray here)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap

import numpy as np
import torch

from trw_ray.hparams.tuning.trial import trial_process_state


def test_seeds_every_generator_and_restores_threads():
    threads = torch.get_num_threads()
    with trial_process_state(seed=7, threads=1):
        first = (random.random(), float(np.random.rand()), float(torch.rand(1)))
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads
    with trial_process_state(seed=7, threads=1):
        assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == first


def test_torch_imported_inside_the_trial_is_seeded_and_threaded():
    # a fresh interpreter: torch is not loaded when the trial starts (a trivial trial never pays its import)
    code = textwrap.dedent("""
        import json, sys
        from trw_ray.hparams.tuning.trial import trial_process_state
        with trial_process_state(seed=11, threads=1):
            loaded_at_start = "torch" in sys.modules
            import torch
            late = float(torch.rand(1))
            threads_inside = torch.get_num_threads()
        torch.manual_seed(11)
        print(json.dumps({"loaded_at_start": loaded_at_start, "late": late, "expected": float(torch.rand(1)),
                          "threads_inside": threads_inside, "threads_after": torch.get_num_threads(),
                          "hooks_left": sum(type(f).__name__ == "AfterImport" for f in sys.meta_path)}))
    """)
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(output.stdout.strip().splitlines()[-1])
    assert seen["loaded_at_start"] is False
    assert seen["late"] == seen["expected"]
    assert seen["threads_inside"] == 1
    assert seen["threads_after"] >= 1
    assert seen["hooks_left"] == 0


def test_hook_is_removed_when_the_trial_never_imports_the_module():
    before = list(sys.meta_path)
    with trial_process_state(seed=1, threads=1):
        pass
    assert sys.meta_path == before


def test_a_report_without_trainer_state_does_not_import_torch():
    # a fresh interpreter: a trial of a function that never uses torch reports without importing it
    code = textwrap.dedent("""
        import sys
        from ray import tune
        reported = []
        tune.report = lambda metrics, **kwargs: reported.append((metrics, kwargs))
        from trw_ray.train.tune_bridge import send_report
        assert "torch" not in sys.modules, "torch loaded before the report"
        send_report({"loss": 0.25}, None)
        print(reported == [({"loss": 0.25}, {})], "torch" in sys.modules)
    """)
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert output.stdout.split()[-2:] == ["True", "False"]


def test_a_trial_its_record_shows_finished_is_not_trained_again(tmp_path, monkeypatch):
    import json

    from ray import tune

    from trw_ray.hparams.tuning.trial import run_trial
    from trw_ray.search_context import FINAL_KEY, REPLAYED_KEY

    class Context:
        def get_trial_dir(self):
            return str(tmp_path / "tune" / "trial_t1")

        def get_trial_id(self):
            return "t1"

    reports = []
    monkeypatch.setattr(tune, "get_context", Context)
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: reports.append(metrics))
    monkeypatch.setattr(tune, "get_checkpoint", lambda: None)
    trials = tmp_path / "trw_ray" / "trials"
    trials.mkdir(parents=True)

    def evaluate(hparams):
        return 0.5

    def write_record(completed):
        (trials / "t1.json").write_text(json.dumps({"trial_id": "t1", "completed": completed, "last_result": {
            "trial_id": "t1", "loss": 0.25, FINAL_KEY: True, "training_iteration": 3, "recorded_at": 1.0}}))

    write_record(True)
    run_trial({}, lambda hparams: 1 / 0, "loss", None, 0, 1, str(tmp_path))  # evaluate_fn is never called
    assert reports == [{"loss": 0.25, FINAL_KEY: True, REPLAYED_KEY: True}]
    write_record(False)  # interrupted: trained
    reports.clear()
    run_trial({}, evaluate, "loss", None, 0, 1, str(tmp_path))
    assert reports == [{"loss": 0.5, FINAL_KEY: True}]
