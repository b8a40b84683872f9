"""Fashion-MNIST (Xiao et al., 2017): 28x28 grey images of 10 kinds of clothing, MNIST's layout and split (55,000
train, the last 5,000 training images as valid, 10,000 test). It separates architectures better than MNIST, where
nearly every network is above 98%.

Sources, in order: the four IDX files under ``root`` (or ``$TRW_RAY_DATA_ROOT``), gzipped or not, in ``root``,
``root/fashion-mnist``, ``root/fashion_mnist`` or ``root/FashionMNIST/raw``; the files Debian's
``dataset-fashion-mnist`` package installs (``/usr/share/datasets/fashion-mnist``: ``apt-get install
dataset-fashion-mnist``); a download from the official mirror, checked against the MD5 of the files' content, saved
under ``root`` (default ``~/.cache/trw_ray/fashion_mnist``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from trw_ray.data.sequence_array import SequenceArray
from trw_ray.datasets.idx import check_images_and_labels, download_files, first_source, load_idx_files
from trw_ray.datasets.mnist import FILES, NUM_TEST, NUM_TRAIN, NUM_VALID, mnist_like_splits

CLASS_NAMES = ["0 - T-shirt/top", "1 - Trouser", "2 - Pullover", "3 - Dress", "4 - Coat", "5 - Sandal", "6 - Shirt",
               "7 - Sneaker", "8 - Bag", "9 - Ankle boot"]
DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
MIRRORS = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
#: MD5 of the decompressed official files (gzip archives of the same content differ byte for byte)
CONTENT_MD5 = {
    "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
}
DOWNLOAD_TIMEOUT_S = 30
logger = logging.getLogger(__name__)

__all__ = ["CLASS_NAMES", "FashionMnistNotFoundError", "create_fashion_mnist_dataset", "load_fashion_mnist_arrays"]


class FashionMnistNotFoundError(FileNotFoundError):
    """No source of Fashion-MNIST could be read; the message lists every source tried and why it failed."""


def _local_folders(root: Path) -> list[Path]:
    return [root, root / "fashion-mnist", root / "fashion_mnist", root / "FashionMNIST" / "raw"]


def _load(folders: list[Path]) -> tuple[dict[str, np.ndarray], Path]:
    arrays, folder = load_idx_files(FILES, folders)
    counts = {"train": NUM_TRAIN + NUM_VALID, "test": NUM_TEST}
    return check_images_and_labels(arrays, counts, f"IDX files in {folder}"), folder


def load_fashion_mnist_arrays(root: str | os.PathLike | None = None, download: bool = True,
                              system_folder: str | os.PathLike | None = DEBIAN_FOLDER,
                              ) -> tuple[dict[str, np.ndarray], str]:
    """The official arrays ``{train_images, train_labels, test_images, test_labels}`` and where they came from.

    Raises:
        FashionMnistNotFoundError: no source worked; the message lists each source tried and its error.
    """
    provided = None
    if system_folder is not None:
        provided = ("system copy (apt-get install dataset-fashion-mnist)",
                    f"Debian's dataset-fashion-mnist ({system_folder})", lambda: _load([Path(system_folder)])[0])
    return first_source("Fashion-MNIST", root, lambda folder: _load(_local_folders(folder))[0], provided,
                        lambda target: download_files(target, CONTENT_MD5, MIRRORS, DOWNLOAD_TIMEOUT_S,
                                                      of_content=True),
                        download, "fashion_mnist", FashionMnistNotFoundError)


def create_fashion_mnist_dataset(
    batch_size: int = 1000,
    normalize_0_1: bool = False,
    root: str | os.PathLike | None = None,
    max_train_samples: int | None = None,
    seed: int = 0,
    download: bool = True,
    max_eval_samples: int | None = None,
    label_noise: Mapping[str, float | Mapping[int, int]] | None = None,
) -> dict[str, dict[str, SequenceArray]]:
    """Fashion-MNIST as ``{'fashion_mnist': {'train', 'valid', 'test'}}``, with the arguments and batches of
    :func:`~trw_ray.datasets.mnist.create_mnist_dataset` (``images``, ``targets``, ``sample_uid``)."""
    arrays, _ = load_fashion_mnist_arrays(root, download=download)
    return mnist_like_splits(arrays, "fashion_mnist", CLASS_NAMES, batch_size, normalize_0_1, max_train_samples, seed,
                             max_eval_samples, label_noise)
