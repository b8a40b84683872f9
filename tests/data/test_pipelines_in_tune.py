"""Inside a Ray Tune trial, the pipelines' actors are placed in the trial's placement group (its bundles)."""

import numpy as np

from trw_ray.data import SequenceArray, SequenceAsyncReservoir, SequenceMap


def tag_placement_group(batch):
    import ray

    group = ray.get_runtime_context().get_placement_group_id() or "none"
    tagged = dict(batch)
    tagged["placement_group"] = np.array([group] * len(batch["x"]), dtype=object)
    return tagged


def trainable(config):
    import ray
    from ray import tune

    trial_group = ray.get_runtime_context().get_placement_group_id()
    source = SequenceArray({"x": np.zeros((40, 2), np.float32)}, batch_size=10)
    if config["pipeline"].startswith("map"):
        backend = "ray_data" if config["pipeline"] == "map_ray_data" else "actors"
        sequence = SequenceMap(source, tag_placement_group, nb_workers=2, num_cpus_per_worker=0.25,
                               epochs_per_execution=1, backend=backend)
    else:
        sequence = SequenceAsyncReservoir(source, 40, tag_placement_group, min_reservoir_samples=40, nb_workers=2,
                                          num_cpus_per_worker=0.25)
    groups = {group for batch in sequence for group in batch["placement_group"]}
    sequence.close()
    tune.report({"in_trial_group": float(groups == {trial_group}), "groups": len(groups)})


def test_map_and_reservoir_workers_use_the_trial_bundles(ray_local, tmp_path):
    from ray import tune

    bundles = tune.PlacementGroupFactory([{"CPU": 0.5}, {"CPU": 0.25}, {"CPU": 0.25}])  # 2 trials fit 2 CPUs
    results = tune.Tuner(
        tune.with_resources(trainable, bundles),
        param_space={"pipeline": tune.grid_search(["map", "map_ray_data", "reservoir"])},
        run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0),
    ).fit()
    assert not results.errors
    assert sorted(r.metrics["in_trial_group"] for r in results) == [1.0, 1.0, 1.0]
