"""The driver's record on resume (no Ray started): trials Tune's saved state lost are dropped, finished ones kept."""

import json

from trw_ray.hparams.tuning.recorder import forget_trials_tune_lost, tune_saved_trial_ids


def _record(folder, trial_id, completed):
    (folder / f"{trial_id}.json").write_text(json.dumps(
        {"trial_id": trial_id, "status": "TERMINATED" if completed else "RUNNING", "completed": completed}))


def test_resume_drops_unfinished_trials_unknown_to_tunes_saved_state(tmp_path):
    # the newest state (by name) is the one Tune resumes; the older one knew fewer trials
    for stamp, ids in (("2026-11-28_10-00-00", ["a"]), ("2026-11-28_10-00-05", ["a", "b"])):
        (tmp_path / f"experiment_state-{stamp}.json").write_text(json.dumps(
            {"trial_data": [[json.dumps({"trial_id": i}), "{}"] for i in ids]}))
    trials = tmp_path / "trw_ray" / "trials"
    trials.mkdir(parents=True)
    _record(trials, "a", True)
    _record(trials, "b", False)  # known to Tune: resumed under its id
    _record(trials, "ghost", False)  # started after Tune's last save, killed with the driver
    _record(trials, "done", True)  # finished after the last save: finished work is kept
    history = tmp_path / "trw_ray" / "history.jsonl"
    history.write_text("".join(json.dumps({"trial_id": i, "training_iteration": 1}) + "\n"
                               for i in ("a", "b", "ghost", "done")) + '{"trial_id": "gh')
    assert tune_saved_trial_ids(tmp_path) == {"a", "b"}
    assert forget_trials_tune_lost(tmp_path) == ["ghost"]
    assert sorted(p.stem for p in trials.glob("*.json")) == ["a", "b", "done"]
    assert [json.loads(line)["trial_id"] for line in history.read_text().splitlines()] == ["a", "b", "done"]
    assert forget_trials_tune_lost(tmp_path) == []  # nothing more to drop


def test_nothing_is_dropped_without_a_saved_state(tmp_path):
    (tmp_path / "trw_ray" / "trials").mkdir(parents=True)
    _record(tmp_path / "trw_ray" / "trials", "a", False)
    assert tune_saved_trial_ids(tmp_path) is None
    assert forget_trials_tune_lost(tmp_path) == []
    assert (tmp_path / "trw_ray" / "trials" / "a.json").is_file()


class _Trial:
    def __init__(self, trial_id, path):
        self.trial_id, self.config, self.path, self.local_path, self.num_failures = trial_id, {"x": 1}, path, path, 0


def test_a_finished_trial_tune_resumes_replays_its_result_without_a_second_record(tmp_path):
    from trw_ray.hparams.tuning.recorder import SearchRecorder, finished_trial_result
    from trw_ray.search_context import FINAL_KEY, REPLAYED_KEY

    recorder = SearchRecorder(tmp_path, "loss", "min")
    trial = _Trial("t1", str(tmp_path / "t1"))
    recorder.on_trial_start(0, [], trial)
    recorder.on_trial_result(0, [], trial, {"loss": 0.5, "training_iteration": 1, "time_total_s": 1.0})
    assert finished_trial_result(tmp_path, "t1") is None  # running
    final = {"loss": 0.25, "accuracy": 0.9, FINAL_KEY: True, "run_dir": "r0", "training_iteration": 2,
             "timestamp": 5, "time_this_iter_s": 0.1, "time_since_restore": 2.0, "pid": 7, "date": "d", "done": True}
    recorder.on_trial_result(0, [], trial, final)
    recorder.on_trial_complete(0, [], trial)
    record = json.loads((tmp_path / "trw_ray" / "trials" / "t1.json").read_text())
    replayed = finished_trial_result(tmp_path, "t1")
    assert replayed == {"loss": 0.25, "accuracy": 0.9, FINAL_KEY: True, "run_dir": "r0"}
    assert finished_trial_result(tmp_path, "unknown") is None

    history = (tmp_path / "trw_ray" / "history.jsonl").read_text()
    resumed = SearchRecorder(tmp_path, "loss", "min")  # the resumed driver: Tune runs the trial again
    resumed.on_trial_start(0, [], trial)
    resumed.on_trial_result(0, [], trial, {**replayed, REPLAYED_KEY: True, "training_iteration": 2})
    resumed.on_trial_complete(0, [], trial)
    assert (tmp_path / "trw_ray" / "history.jsonl").read_text() == history
    again = json.loads((tmp_path / "trw_ray" / "trials" / "t1.json").read_text())
    assert again["status"] == "TERMINATED" and again["completed"] and again["ended"] == record["ended"]
    assert again["last_result"] == record["last_result"]
