"""No pipeline waits forever for workers Ray cannot place: two pipelines of two workers each on 2 CPUs (a train and
a valid split that both ``.map(fn, nb_workers=2)``) both serve every sample; the second shares the CPUs the first
holds, with one warning naming what holds them."""

import numpy as np
import pytest

from trw_ray.data import PipelineResourceWarning, SequenceArray, SequenceAsyncReservoir, SequenceMap
from trw_ray.data.transforms import Noise, TransformBatch

AUGMENT = TransformBatch(Noise(1.0, feature_names=("x",)), seed=1)


def source(n: int = 60) -> SequenceArray:
    return SequenceArray({"x": np.arange(n * 4, dtype=np.float32).reshape(n, 4), "y": np.arange(n) % 3},
                         batch_size=10)


def make(kind: str, nb_workers: int = 2):
    if kind.startswith("reservoir"):
        backend = "ray_data" if kind.endswith("ray_data") else "actors"
        return SequenceAsyncReservoir(source(), 60, AUGMENT, min_reservoir_samples=60, nb_workers=nb_workers,
                                      backend=backend)
    return SequenceMap(source(), AUGMENT, nb_workers=nb_workers, backend=kind, epochs_per_execution=2)


def uids(sequence) -> list[int]:
    """The sample ids of one epoch: each once (a map), or 60 of the source's (the reservoir's snapshot)."""
    served = sorted(int(u) for batch in sequence for u in batch["sample_uid"])
    if isinstance(sequence, SequenceAsyncReservoir) and len(served) == 60 and set(served) <= set(range(60)):
        return list(range(60))
    return served


@pytest.mark.timeout(240)
@pytest.mark.parametrize("first, second", [("actors", "actors"), ("ray_data", "ray_data"), ("actors", "reservoir"),
                                           ("ray_data", "reservoir_ray_data")])
def test_a_second_pipeline_shares_the_cpus_the_first_holds(ray_local, first, second):
    train = make(first)
    valid = make(second)
    try:
        assert uids(train) == list(range(60))  # the first pool holds both CPUs now
        with pytest.warns(PipelineResourceWarning) as caught:
            assert uids(valid) == list(range(60))
        message = str(caught[0].message)
        assert "nb_workers=2 asks for 2 CPU but 0 of the 2 CPU of the Ray cluster are free" in message, message
        assert train.describe() in message and "share the CPUs" in message, message
        for _ in range(2):  # epochs alternate as a Trainer's do
            assert uids(train) == list(range(60)) and uids(valid) == list(range(60))
    finally:
        valid.close()
        train.close()


@pytest.mark.timeout(120)
def test_a_pool_shrinks_to_the_cpus_left_and_closed_pools_free_theirs(ray_local):
    first, second = make("actors", nb_workers=1), make("actors", nb_workers=2)
    try:
        assert uids(first) == list(range(60))
        with pytest.warns(PipelineResourceWarning, match=r"it starts 1 worker\(s\) instead"):
            assert uids(second) == list(range(60))
        assert len(second._workers) == 1
    finally:
        second.close()
        first.close()
    again = make("actors", nb_workers=2)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", PipelineResourceWarning)
            assert uids(again) == list(range(60))
        assert len(again._workers) == 2
    finally:
        again.close()


def test_workers_that_cannot_be_placed_fail_with_what_is_free(ray_local):
    import ray

    from trw_ray.data import PipelinePlacementError
    from trw_ray.data.worker_pool import check_placed

    @ray.remote(num_cpus=0, resources={"a_resource_no_node_has": 1})
    class Unplaceable:
        pass

    actor = Unplaceable.remote()
    try:
        check_placed("SequenceMap(nb_workers=1)", [actor], waited_s=1.0, timeout_s=5.0)  # not yet: no error
        with pytest.raises(PipelinePlacementError, match=r"(?s)SequenceMap\(nb_workers=1\): none of its 1 worker\(s\) "
                                                         r"could be placed in 5 s.*free CPUs: \d"):
            check_placed("SequenceMap(nb_workers=1)", [actor], waited_s=5.0, timeout_s=5.0)
    finally:
        ray.kill(actor)
