"""SequenceMap and SequenceAsyncReservoir on a local Ray (2 CPUs): coverage, reproducibility, faults, shutdown."""

import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from trw_ray.data import SequenceArray, SequenceAsyncReservoir, SequenceMap, SequenceMapError
from trw_ray.data.transforms import Compose, Noise, RandomCropPad, TransformBatch


def split(n=240):
    rng = np.random.default_rng(0)
    return {"images": rng.integers(0, 255, size=(n, 1, 12, 12)).astype(np.uint8), "targets": np.arange(n) % 10}


AUGMENT = TransformBatch(Compose([RandomCropPad(2), Noise(3.0)]), seed=5)


def actors(class_fragment: str, state: str = "ALIVE"):
    from ray._private import state as ray_state

    return [a for a in ray_state.actors().values() if class_fragment in a["ActorClassName"] and a["State"] == state]


def wait_until_no_actor(class_fragment: str, timeout: float = 30.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = actors(class_fragment)
        if not alive:
            return []
        time.sleep(0.5)
    return actors(class_fragment)


BACKENDS = pytest.mark.parametrize("backend", ["actors", "ray_data"])


def by_uid(batches):
    return {uid: image for batch in batches for uid, image in zip(batch["sample_uid"].tolist(), batch["images"], strict=False)}


@BACKENDS
def test_map_covers_every_sample_once_per_epoch_and_reuses_its_actors(ray_local, backend):
    sequence = SequenceMap(SequenceArray(split(), batch_size=20), AUGMENT, nb_workers=2, epochs_per_execution=3,
                           batches_per_job=1, backend=backend)
    try:
        epochs = [list(sequence)]
        assert len(actors("MapWorker")) == 2  # the pool outlives the epoch
        epochs += [list(sequence) for _ in range(2)]
        for batches in epochs:
            uids = [u for b in batches for u in b["sample_uid"].tolist()]
            assert sorted(uids) == list(range(240))
            assert all(isinstance(b["images"], torch.Tensor) and b["images"].dtype == torch.uint8 for b in batches)
        assert not all(torch.equal(by_uid(epochs[0])[u], by_uid(epochs[1])[u]) for u in range(10))
    finally:
        sequence.close()
    assert wait_until_no_actor("MapWorker") == []


def test_ray_data_autoscaling_pool_covers_every_sample(ray_local):
    sequence = SequenceMap(SequenceArray(split(), batch_size=20), AUGMENT, nb_workers=(1, 2), backend="ray_data",
                           epochs_per_execution=2, batches_per_job=1)
    try:
        for _ in range(2):
            assert sorted(u for b in sequence for u in b["sample_uid"].tolist()) == list(range(240))
    finally:
        sequence.close()
    assert wait_until_no_actor("MapWorker") == []


@BACKENDS
def test_an_epoch_left_early_does_not_leak_into_the_next(ray_local, backend):
    sequence = SequenceMap(SequenceArray(split(), batch_size=20), AUGMENT, nb_workers=2, epochs_per_execution=4,
                           batches_per_job=1, max_jobs_at_once=6, backend=backend)
    try:
        for batch, _ in zip(sequence, range(3), strict=False):
            assert len(batch["targets"]) == 20
        for _ in range(2):
            uids = [u for b in sequence for u in b["sample_uid"].tolist()]
            assert sorted(uids) == list(range(240))
    finally:
        sequence.close()


@BACKENDS
def test_same_seed_same_batches_for_one_and_two_workers(ray_local, backend):
    results = []
    for workers in (1, 2):
        sequence = SequenceMap(SequenceArray(split(), batch_size=20, seed=3), AUGMENT, nb_workers=workers,
                               epochs_per_execution=2, batches_per_job=workers + 1, backend=backend)
        try:
            results.append([by_uid(sequence) for _ in range(2)])
        finally:
            sequence.close()
    inline = SequenceMap(SequenceArray(split(), batch_size=20, seed=3), AUGMENT, nb_workers=0)
    results.append([by_uid(inline) for _ in range(2)])
    for epoch in range(2):
        for uid in range(240):
            assert torch.equal(results[0][epoch][uid], results[1][epoch][uid])
            assert torch.equal(results[0][epoch][uid], results[2][epoch][uid])


def failing_on_uid_7(batch):
    if 7 in batch["sample_uid"].tolist():
        raise ValueError("corrupt sample 7")
    return batch


@BACKENDS
def test_worker_error_reaches_the_training_loop_with_uid_and_traceback(ray_local, backend):
    sequence = SequenceMap(SequenceArray(split(), batch_size=20, shuffle=False), failing_on_uid_7, nb_workers=2,
                           epochs_per_execution=1, backend=backend)
    with pytest.raises(SequenceMapError) as error:
        list(sequence)
    message = str(error.value)
    assert "sample_uid [0, 1, 2, 3, 4, 5, 6, 7" in message and "corrupt sample 7" in message
    assert "failing_on_uid_7" in message  # the original traceback
    sequence.close()
    not_a_dict = SequenceMap(SequenceArray(split(), batch_size=20), lambda batch: 3, nb_workers=1, epochs_per_execution=1,
                             backend=backend)
    with pytest.raises(SequenceMapError, match="must return a dict batch; got int"):
        list(not_a_dict)
    not_a_dict.close()
    assert wait_until_no_actor("MapWorker") == []


def slow(batch):
    time.sleep(0.05)
    return batch


@BACKENDS
def test_killed_worker_is_replaced_and_the_epoch_is_complete(ray_local, backend):
    sequence = SequenceMap(SequenceArray(split(), batch_size=10), slow, nb_workers=2, epochs_per_execution=1,
                           batches_per_job=2, backend=backend)
    try:
        iterator = iter(sequence)
        seen = [next(iterator) for _ in range(3)]
        victim = actors("MapWorker")[0]
        os.kill(victim["Pid"], signal.SIGKILL)
        seen += list(iterator)
        uids = [u for b in seen for u in b["sample_uid"].tolist()]
        assert sorted(uids) == list(range(240))
    finally:
        sequence.close()
    assert wait_until_no_actor("MapWorker") == []


def crashing_on_uid_7(batch):
    if 7 in batch["sample_uid"].tolist():
        os._exit(3)  # the worker process dies, as on a segfault in a decoding library
    return batch


@pytest.mark.parametrize("backend", ["actors", pytest.param("ray_data", marks=pytest.mark.slow)])
def test_a_function_that_kills_its_worker_fails_the_epoch_instead_of_retrying_forever(ray_local, backend):
    sequence = SequenceMap(SequenceArray(split(), batch_size=20, shuffle=False), crashing_on_uid_7, nb_workers=2,
                           epochs_per_execution=1, backend=backend)
    started = time.monotonic()
    try:
        with pytest.raises(SequenceMapError, match="SequenceMap worker failed") as error:
            list(sequence)
    finally:
        sequence.close()
    if backend == "actors":
        # jobs of later epochs run ahead, and may fail first
        assert re.search(r"died on the job of epoch \d, batches 0-11 \(sample_uid \[0, 1, 2, 3, 4, 5, 6, 7\] \.\.\.\)",
                         str(error.value))
    assert time.monotonic() - started < 120
    assert wait_until_no_actor("MapWorker") == []
    time.sleep(3)  # an actor that was restarting when the execution failed must not come back and hold its CPU
    assert actors("MapWorker") == [] and actors("MapWorker", "RESTARTING") == []


def test_reservoir_serves_without_waiting_survives_a_killed_worker_and_shuts_down(ray_local):
    reservoir = SequenceAsyncReservoir(SequenceArray(split(), batch_size=20), max_reservoir_samples=100,
                                       function_to_run=slow, min_reservoir_samples=60, nb_workers=2, batch_size=16)
    try:
        first = list(reservoir)
        served = sum(len(b["targets"]) for b in first)
        assert served >= 60 and len({u for b in first for u in b["sample_uid"].tolist()}) == served
        victim = actors("MapWorker")[0]
        os.kill(victim["Pid"], signal.SIGKILL)
        jobs_before = reservoir.jobs_done
        started = time.monotonic()
        later = [sum(len(b["targets"]) for b in reservoir) for _ in range(20)]
        assert time.monotonic() - started < 5  # served from the reservoir, never waiting on the workers
        assert min(later) >= 60
        deadline = time.monotonic() + 30
        while reservoir.jobs_done < jobs_before + 4 and time.monotonic() < deadline:
            list(reservoir)
            time.sleep(0.2)
        assert reservoir.jobs_done >= jobs_before + 4  # the restarted worker keeps refilling
    finally:
        reservoir.close()
    assert wait_until_no_actor("MapWorker") == []


def test_reservoir_on_ray_data_serves_every_sample_and_never_waits_once_warm(ray_local):
    reservoir = SequenceAsyncReservoir(SequenceArray(split(), batch_size=20), max_reservoir_samples=240,
                                       function_to_run=slow, min_reservoir_samples=240, nb_workers=2, batch_size=16,
                                       backend="ray_data", batches_per_job=2, epochs_per_execution=2)
    try:
        first = list(reservoir)  # waits until all 240 samples are in: each of them once
        assert sorted(u for b in first for u in b["sample_uid"].tolist()) == list(range(240))
        assert reservoir.jobs_done >= 6  # 240 samples in jobs of 2 batches of 20 (the execution may be over already)
        jobs_before = reservoir.jobs_done
        started = time.monotonic()
        later = [sum(len(b["targets"]) for b in reservoir) for _ in range(20)]
        assert time.monotonic() - started < 5 and min(later) == 240  # served from RAM, never waiting on the workers
        deadline = time.monotonic() + 60
        while reservoir.jobs_done < jobs_before + 14 and time.monotonic() < deadline:  # past the first execution
            list(reservoir)
            time.sleep(0.2)
        assert reservoir.jobs_done >= jobs_before + 14  # refilled by a second execution (2 epochs = 12 jobs each)
    finally:
        reservoir.close()
    assert wait_until_no_actor("MapWorker") == []


@pytest.mark.parametrize("function, message", [(failing_on_uid_7, "(?s)corrupt sample 7"),
                                               (crashing_on_uid_7, "SequenceAsyncReservoir worker failed")])
def test_reservoir_worker_error_is_raised(ray_local, function, message):
    reservoir = SequenceAsyncReservoir(SequenceArray(split(), batch_size=20, shuffle=False), 100, function,
                                       min_reservoir_samples=100, nb_workers=1, fill_timeout_s=300)
    started = time.monotonic()
    try:
        with pytest.raises(SequenceMapError, match=message):
            # the reservoir serves what the other jobs filled while the crashing job is retried: the error comes
            # at the latest with the epoch after its retries run out
            while time.monotonic() - started < 110:
                list(reservoir)
    finally:
        reservoir.close()
    assert time.monotonic() - started < 120  # a crashing function is retried a few times, not forever


def test_tour_trains_through_map_and_reservoir_with_the_augmentation_report(ray_local, tmp_path):
    from trw_ray.examples.mnist_tour import run_training

    for augment in ("map", "reservoir"):
        summary = run_training(num_epochs=2, max_train_samples=3000, batch_size=100, augment=augment,
                               logging_directory=str(tmp_path), run_prefix=augment)
        # chance is 0.1; the reservoir's first epoch serves only what its workers filled in by then
        assert summary["test_accuracy"] > (0.6 if augment == "map" else 0.3), augment
        run_dir = Path(summary["run_dir"])
        assert (run_dir / "augmentations" / "mnist" / "mnist_train_augmentations.png").is_file()
        assert "failed" not in (run_dir / "trainer.txt").read_text()
    assert wait_until_no_actor("MapWorker") == []
