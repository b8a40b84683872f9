"""The driver's record on resume (no Ray started): trials Tune's saved state lost are dropped, finished ones kept."""

import json

from trw_ray.hparams.recorder import forget_trials_tune_lost, tune_saved_trial_ids


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
