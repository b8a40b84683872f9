import gzip

import numpy as np
import pytest

import trw_ray as trw
from trw_ray.datasets import fashion_mnist
from trw_ray.datasets.idx import encode_idx
from trw_ray.datasets.mnist import FILES


def system_copy():
    try:
        return fashion_mnist.load_fashion_mnist_arrays(download=False)
    except fashion_mnist.FashionMnistNotFoundError as error:
        pytest.skip(f"no Fashion-MNIST copy here (apt-get install dataset-fashion-mnist): {error}")


def test_the_system_copy_is_the_official_fashion_mnist(monkeypatch):
    monkeypatch.delenv("TRW_RAY_DATA_ROOT", raising=False)
    arrays, source = system_copy()
    assert np.bincount(arrays["train_labels"]).tolist() == [6000] * 10
    assert np.bincount(arrays["test_labels"]).tolist() == [1000] * 10
    assert arrays["train_labels"][:5].tolist() == [9, 0, 0, 3, 0]  # ankle boot, T-shirt, T-shirt, dress, T-shirt
    datasets = trw.datasets.create_fashion_mnist_dataset(normalize_0_1=True, max_train_samples=100)
    splits = datasets["fashion_mnist"]
    assert {name: split.num_samples for name, split in splits.items()} == {"train": 100, "valid": 5000, "test": 10000}
    assert splits["test"].class_names["targets"][9] == "9 - Ankle boot"


def test_local_files_come_first_and_every_failure_is_listed(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 255, (60000, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, 60000, dtype=np.uint8),
              "test_images": rng.integers(0, 255, (10000, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, 10000, dtype=np.uint8)}
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for key, stem in FILES.items():
        (folder / f"{stem}.gz").write_bytes(gzip.compress(encode_idx(arrays[key]), compresslevel=1))
    loaded, source = fashion_mnist.load_fashion_mnist_arrays(root=tmp_path, download=False)
    assert "IDX files under" in source and np.array_equal(loaded["test_labels"], arrays["test_labels"])
    with pytest.raises(fashion_mnist.FashionMnistNotFoundError) as error:
        fashion_mnist.load_fashion_mnist_arrays(root=tmp_path / "empty", download=False,
                                                system_folder=tmp_path / "no_system_copy")
    message = str(error.value)
    assert "local files: no IDX files" in message and "system copy (apt-get install dataset-fashion-mnist): " in message
    assert "download: disabled" in message
