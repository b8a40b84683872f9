import numpy as np
import pytest
import torch

from trw_ray.data.transforms import (
    Compose,
    Cutout,
    Noise,
    Normalize,
    RandomAffine,
    RandomCropPad,
    RandomFlip,
    TransformBatch,
    sample_rng,
)


def image(seed=0):
    return np.random.default_rng(seed).integers(0, 255, size=(1, 12, 12)).astype(np.uint8)


def test_crop_pad_is_a_translation():
    x = image()
    out = RandomCropPad(2)({"images": x}, np.random.default_rng(3))["images"]
    assert out.shape == x.shape and out.dtype == np.uint8
    found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
             if np.array_equal(out[0, 2:-2, 2:-2], np.roll(x[0], (dy, dx), axis=(0, 1))[2:-2, 2:-2])]
    assert found


def test_flip_affine_noise_cutout_normalize_keep_shapes_and_types():
    x = torch.from_numpy(image()).float()
    sample = {"images": x, "targets": 3}
    rng = np.random.default_rng(0)
    flipped = RandomFlip(probability=1.0)(sample, rng)["images"]
    assert torch.equal(flipped, torch.flip(x, dims=[-1]))
    assert RandomAffine(15, 0.1, 2)(sample, rng)["images"].shape == x.shape
    noisy = Noise(5.0)(sample, rng)["images"]
    assert noisy.dtype == torch.float32 and 1 < float((noisy - x).std()) < 10
    cut = Cutout(4, value=-1.0)(sample, rng)["images"]
    assert (cut == -1).sum() >= 4 and (cut == -1).sum() <= 16
    normalized = Normalize(mean=x.mean().item(), std=x.std().item())(sample, rng)["images"]
    assert abs(float(normalized.mean())) < 1e-4
    assert Compose([RandomFlip(), Noise(1.0)])(sample, rng)["targets"] == 3


def test_invalid_arguments():
    with pytest.raises(ValueError, match="padding"):
        RandomCropPad(-1)
    with pytest.raises(ValueError, match="probability"):
        RandomFlip(probability=2)
    with pytest.raises(ValueError, match="std"):
        Normalize(0, 0)
    with pytest.raises(KeyError, match="no feature 'images'"):
        Noise(1.0)({"pixels": np.zeros(3)}, np.random.default_rng(0))


def test_batches_are_reproducible_per_sample_uid_and_epoch():
    batch = {"images": torch.from_numpy(np.stack([image(i) for i in range(6)])), "sample_uid": torch.arange(6) + 100}
    augment = TransformBatch(Compose([RandomCropPad(2), RandomFlip(), Noise(2.0)]), seed=7)
    a, b = augment(batch, epoch=1), augment(batch, epoch=1)
    assert torch.equal(a["images"], b["images"])
    assert not torch.equal(a["images"], augment(batch, epoch=2)["images"])
    # a sample's augmentation does not depend on which batch it is in
    half = {name: value[3:] for name, value in batch.items()}
    assert torch.equal(augment(half, epoch=1)["images"], a["images"][3:])
    rngs = [sample_rng(7, 1, 103).random(), sample_rng(7, 1, 103).random()]
    assert rngs[0] == rngs[1]


def test_pipeline_workers_do_not_load_torch_for_numpy_augmentations():
    """A worker imports the worker module and the transforms; with numpy batches torch stays unloaded."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import numpy as np
        from trw_ray.data.map_worker import MapWorker
        from trw_ray.data.transforms import Compose, RandomCropPad, RandomFlip, TransformBatch
        split = {"images": np.zeros((8, 1, 6, 6), np.float32), "sample_uid": np.arange(8)}
        worker = MapWorker(split, TransformBatch(Compose([RandomCropPad(1), RandomFlip()]), seed=0), batch_size=4,
                           shuffle=True, seed=0)
        out = worker({"epoch": np.array([0]), "index": np.array([0]), "count": np.array([2])})
        assert out["images"].shape == (8, 1, 6, 6), out["images"].shape
        print("torch" in sys.modules, "scipy" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
