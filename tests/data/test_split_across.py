"""How a pipeline is split across data-parallel training workers (pure logic: no Ray is started)."""

import numpy as np
import pytest

from trw_ray.data import SequenceArray, SequenceAsyncReservoir, SequenceMap


def source(n=400, batch_size=10):
    return SequenceArray({"x": np.zeros((n, 2), dtype=np.float32), "y": np.arange(n)}, batch_size=batch_size)


def identity(batch):
    return batch


def test_only_a_ray_data_map_is_split_and_it_needs_two_jobs_per_worker():
    with pytest.raises(ValueError, match="backend: a SequenceMap split across training workers runs on Ray Data; "
                                         "got backend='actors'"):
        SequenceMap(source(), identity, nb_workers=2).split_across(0, 2, lambda value: value)
    with pytest.raises(ValueError, match=r"batches_per_job: split across 2 training workers, an epoch needs at least "
                                         r"4 jobs .* got 2 job\(s\) of 20 batch\(es\) for 40 batches"):
        SequenceMap(source(), identity, nb_workers=1, backend="ray_data", batches_per_job=20).split_across(
            1, 2, lambda value: value)


def test_split_jobs_are_about_1024_samples_unless_given():
    defaulted = SequenceMap(source(40_000), identity, nb_workers=1, backend="ray_data")
    assert defaulted.batches_per_job == 25  # 256 samples of 10
    assert defaulted.split_across(0, 2, lambda value: value).batches_per_job == 102
    assert len(defaulted) == 2000  # this worker's share of the 4,000 batches
    small = SequenceMap(source(400), identity, nb_workers=1, backend="ray_data").split_across(0, 2, lambda v: v)
    assert small.batches_per_job == 5  # 40 batches: 8 jobs, four per worker
    given = SequenceMap(source(40_000), identity, nb_workers=1, backend="ray_data", batches_per_job=3)
    assert given.split_across(0, 2, lambda value: value).batches_per_job == 3


def test_a_reservoir_split_holds_its_share_of_the_samples_and_capacities():
    reservoir = SequenceAsyncReservoir(source(401), 101, identity, min_reservoir_samples=51, nb_workers=1)
    reservoir.split_across(1, 2)
    assert reservoir.source.split["sample_uid"].tolist() == list(range(1, 401, 2))
    assert (reservoir.max_reservoir_samples, reservoir.min_reservoir_samples,
            reservoir.max_reservoir_replacement_size) == (51, 26, 51)
