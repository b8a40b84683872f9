import time

import numpy as np
import pytest
import torch

from trw_ray.data import SequenceArray, SequenceFromDataLoader, SequenceMap, SequenceMapError
from trw_ray.data.transforms import Noise, TransformBatch


def source(n=20, batch_size=6, **kwargs):
    return SequenceArray({"x": np.arange(n, dtype=np.float32)[:, None], "y": np.arange(n)}, batch_size=batch_size, **kwargs)


def uids(batches):
    return [u for b in batches for u in b["sample_uid"].tolist()]


def test_rebatch_sub_batch_batch():
    assert [len(b["y"]) for b in source().rebatch(8)] == [8, 8, 4]
    assert [len(b["y"]) for b in source().sub_batch(4)] == [4, 2, 4, 2, 4, 2, 2]
    assert [len(b["y"]) for b in source().batch(2)] == [12, 8]
    assert sorted(uids(source().rebatch(7))) == list(range(20))


def test_max_samples_makes_virtual_epochs_across_the_source():
    sequence = source(shuffle=False).max_samples(15)
    first, second = uids(sequence), uids(sequence)
    assert first == list(range(15)) and len(second) == 15 and second[:5] == [15, 16, 17, 18, 19]
    with pytest.raises(ValueError, match="max_samples"):
        source().max_samples(0)


def test_collate_to_cpu_and_dataloader_adaptor():
    collated = next(iter(SequenceFromDataLoader([{"x": np.ones((2, 3))}]).collate(device="cpu")))
    assert isinstance(collated["x"], torch.Tensor)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(10, 2), torch.arange(10)), batch_size=4)
    batches = list(SequenceFromDataLoader(loader, feature_names=["x", "y"]))
    assert [b["y"].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(TypeError, match="feature_names"):
        list(SequenceFromDataLoader(loader))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_collate_to_cuda_pins_and_copies_one_batch_ahead_with_the_same_values():
    data = {"x": np.random.default_rng(0).normal(size=(4096, 256)).astype(np.float32), "y": np.arange(4096)}
    expected = list(SequenceArray(data, batch_size=512, shuffle=False))
    collated = list(SequenceArray(data, batch_size=512, shuffle=False).collate(device="cuda"))
    assert len(collated) == len(expected) == 8
    for got, want in zip(collated, expected, strict=True):
        assert got["x"].device.type == "cuda" and got["y"].device.type == "cuda"
        # used at once on the training stream: the copy on the side stream must be complete
        assert torch.allclose((got["x"] * 2).sum(dim=1).cpu(), (want["x"] * 2).sum(dim=1), atol=1e-3)
        assert torch.equal(got["x"].cpu(), want["x"])
        assert torch.equal(got["y"].cpu(), want["y"])


def test_inline_map_covers_each_sample_once_with_per_epoch_augmentation():
    sequence = source(n=30).map(TransformBatch(Noise(1.0, feature_names=["x"]), seed=0), nb_workers=0)
    epoch_0, epoch_1 = list(sequence), list(sequence)
    assert sorted(uids(epoch_0)) == list(range(30)) == sorted(uids(epoch_1))
    x0 = {u: x for b in epoch_0 for u, x in zip(b["sample_uid"].tolist(), b["x"][:, 0].tolist(), strict=False)}
    x1 = {u: x for b in epoch_1 for u, x in zip(b["sample_uid"].tolist(), b["x"][:, 0].tolist(), strict=False)}
    assert all(abs(x0[u] - u) < 6 for u in x0) and x0 != x1


def failing(batch):
    raise ValueError("cannot load this sample")


def test_inline_map_errors_name_the_samples():
    with pytest.raises(SequenceMapError, match=r"(?s)raised ValueError on sample_uid \[.*\].*cannot load this sample"):
        list(SequenceMap(source(), failing, nb_workers=0))
    with pytest.raises(SequenceMapError, match="must return a dict batch; got list"):
        list(SequenceMap(source(), lambda batch: [1, 2], nb_workers=0))
    with pytest.raises(SequenceMapError, match="same number of samples"):
        list(SequenceMap(source(), lambda batch: {"a": np.zeros(2), "b": np.zeros(3)}, nb_workers=0))
    with pytest.raises(ValueError, match="nb_workers"):
        SequenceMap(source(), failing, nb_workers=-1)
    with pytest.raises(TypeError, match="SequenceArray"):
        SequenceMap([{"x": 1}], failing, nb_workers=2)


def test_trainer_with_inline_map_writes_the_augmentation_report():
    from pathlib import Path

    import trw_ray as trw
    from trw_ray.examples.mnist_tour import Net, augmentation

    def inputs():
        datasets = trw.datasets.create_mnist_dataset(batch_size=100, max_train_samples=300)
        datasets["mnist"]["train"] = datasets["mnist"]["train"].map(augmentation(), nb_workers=0)
        datasets["mnist"]["valid"] = trw.train.SequenceArray(
            {k: v[:200] for k, v in datasets["mnist"]["valid"].split.items()}, batch_size=100)
        del datasets["mnist"]["test"]
        return datasets

    options = trw.train.create_default_options(num_epochs=1, device="cpu")
    _, results = trw.train.Trainer().fit(options, inputs_fn=inputs, model_fn=lambda o: Net(),
                                         optimizers_fn=lambda d, m: trw.train.create_sgd_optimizers_fn(d, m, 0.1))
    run_dir = Path(results["run_dir"])
    assert (run_dir / "augmentations" / "mnist" / "mnist_train_augmentations.png").is_file()
    assert "augmentations/mnist/mnist_train_augmentations.png" in (run_dir / "index.html").read_text()


@pytest.mark.parametrize("make, argument", [
    (lambda: SequenceMap(source(), failing, nb_workers=1, epochs_per_execution=0), "epochs_per_execution"),
    (lambda: SequenceMap(source(), failing, nb_workers=1, batches_per_job=0), "batches_per_job"),
    (lambda: SequenceMap(source(), failing, nb_workers=1, num_cpus_per_worker=-1), "num_cpus_per_worker"),
    (lambda: SequenceMap(source(), failing, nb_workers=1, backend="processes"), "backend: expected one of 'actors'"),
    (lambda: SequenceMap(source(), failing, nb_workers=(1, 2)), "nb_workers: an autoscaling pool .* needs backend='ray_data'"),
    (lambda: SequenceMap(source(), failing, nb_workers=(2, 1), backend="ray_data"), "nb_workers: an autoscaling pool"),
    (lambda: SequenceMap(source(), failing, nb_workers=1.5), "nb_workers: expected an integer >= 0"),
    (lambda: source().async_reservoir(0), "max_reservoir_samples"),
    (lambda: source().async_reservoir(10, batch_size=0), "batch_size"),
    (lambda: source().async_reservoir(10, max_reservoir_replacement_size=0), "max_reservoir_replacement_size"),
    (lambda: source().async_reservoir(10, min_reservoir_samples=0), "min_reservoir_samples"),
])
def test_pipeline_arguments_are_validated_by_name(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


def test_reservoir_releases_ray_data_blocks_one_epoch_after_the_other():
    from trw_ray.data.map_worker import BATCH_COLUMN, EPOCH_COLUMN, ERROR_COLUMN
    from trw_ray.data.sequence_async_reservoir import EpochOrder

    def block(epoch, job):
        return {"x": np.array([epoch * 10 + job]), EPOCH_COLUMN: np.array([epoch]), BATCH_COLUMN: np.array([job])}

    order = EpochOrder(first_epoch=4, jobs_per_epoch=3)
    released = [b["x"][0] for b in order.push(block(4, 0))]
    released += [b["x"][0] for b in order.push(block(5, 2))]  # the next epoch's block before this epoch ends: waits
    released += [b["x"][0] for b in order.push(block(4, 2))]
    assert released == [40, 42]
    error = {ERROR_COLUMN: np.array(["broken"], dtype=object), EPOCH_COLUMN: np.array([6])}
    assert order.push(error) == [error]  # an error is raised at once, not held back
    released = [b["x"][0] for b in order.push(block(4, 1))]  # epoch 4 complete: epoch 5's waiting block follows
    assert released == [41, 52]
    assert [b["x"][0] for b in order.push(block(4, 1))] == [41]  # a later piece of a job already released
    assert order.push(block(6, 0)) == [] and [b["x"][0] for b in order.rest()] == [60]  # the execution ended


def test_reservoir_counts_a_ray_data_job_split_in_pieces_once():
    from trw_ray.data.map_worker import BATCH_COLUMN, EPOCH_COLUMN
    from trw_ray.data.sequence_async_reservoir import EpochOrder

    def piece(epoch, first_batch):
        return {"x": np.array([epoch * 10 + first_batch]), EPOCH_COLUMN: np.array([epoch]),
                BATCH_COLUMN: np.array([first_batch])}

    order = EpochOrder(first_epoch=0, jobs_per_epoch=2, batches_per_job=2)  # jobs: batches 0-1 and 2-3
    assert len(order.push(piece(0, 0))) == 1
    assert order.push(piece(1, 0)) == []
    assert len(order.push(piece(0, 1))) == 1  # the second piece of job 0: epoch 0 is not complete yet
    assert [b["x"][0] for b in order.push(piece(0, 2))] == [2, 10]


def test_reservoir_replaces_nothing_before_its_first_epoch():
    from trw_ray.data import SequenceAsyncReservoir

    reservoir = SequenceAsyncReservoir(source(n=24), max_reservoir_samples=24, min_reservoir_samples=24, nb_workers=0)
    try:
        reservoir._start()
        deadline = time.monotonic() + 10
        while reservoir.jobs_done < 4 and time.monotonic() < deadline:  # full: 4 batches of 6
            time.sleep(0.01)
        time.sleep(0.2)  # the filling thread would replace the oldest samples now, had it room to
        assert reservoir.jobs_done == 4
        assert sorted(uids(reservoir)) == list(range(24))  # the first epoch: each sample once
        deadline = time.monotonic() + 10
        while reservoir.jobs_done < 8 and time.monotonic() < deadline:  # then replaced, a capacity per epoch
            time.sleep(0.01)
        assert reservoir.jobs_done == 8
    finally:
        reservoir.close()
