"""IDX files (the format of MNIST and Fashion-MNIST): decoding, finding a local copy, downloading with checksums."""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

DATA_ROOT_ENV = "TRW_RAY_DATA_ROOT"

__all__ = ["DATA_ROOT_ENV", "check_images_and_labels", "first_source", "download_files", "encode_idx", "find_idx_files", "load_idx_files",
           "parse_idx", "read_maybe_gzip"]


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


def read_maybe_gzip(path: Path) -> bytes:
    data = Path(path).read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def find_idx_files(files: Mapping[str, str], folders: Sequence[Path]) -> dict[str, Path] | None:
    """``{key: path}`` of the first folder holding every file of ``files`` (``{key: stem}``, ``.gz`` or not)."""
    for folder in folders:
        found = {}
        for key, stem in files.items():
            for candidate in (folder / stem, folder / f"{stem}.gz"):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == len(files):
            return found
    return None


def load_idx_files(files: Mapping[str, str], folders: Sequence[Path]) -> tuple[dict[str, np.ndarray], Path]:
    """The arrays of the first folder that holds them all, and that folder (FileNotFoundError naming the folders)."""
    found = find_idx_files(files, folders)
    if found is None:
        raise FileNotFoundError(f"no IDX files ({', '.join(files.values())}, optionally .gz) in "
                                f"{', '.join(str(folder) for folder in folders)}")
    return {key: parse_idx(read_maybe_gzip(path), str(path)) for key, path in found.items()}, found[next(iter(found))].parent


def check_images_and_labels(arrays: Mapping[str, np.ndarray], counts: Mapping[str, int], source: str,
                            num_classes: int = 10) -> dict[str, np.ndarray]:
    """ValueError naming ``source`` unless ``{split}_images`` is (count, 28, 28) and ``{split}_labels`` (count,)."""
    for split, count in counts.items():
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape != (count, 28, 28) or labels.shape != (count,):
            raise ValueError(f"{source}: expected {split} images ({count}, 28, 28) and labels ({count},); "
                             f"got {images.shape} and {labels.shape}")
        if labels.max() >= num_classes:
            raise ValueError(f"{source}: {split} labels must be 0-{num_classes - 1}; got a maximum of {labels.max()}")
    return dict(arrays)


def download_files(root: Path, md5: Mapping[str, str], mirrors: Sequence[str], timeout: float,
                   of_content: bool = False) -> list[Path]:
    """Downloads every file of ``md5`` (``{filename: md5}``) from the first mirror that serves it with that MD5 (of
    the file, or of its decompressed content with ``of_content``), into ``root``; returns the paths."""
    def digest(data: bytes) -> str:
        return hashlib.md5(gzip.decompress(data) if of_content and data[:2] == b"\x1f\x8b" else data).hexdigest()

    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, expected in md5.items():
        target = root / filename
        if target.is_file() and digest(target.read_bytes()) == expected:
            paths.append(target)
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + filename
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    data = response.read()
                found = digest(data)
            except (urllib.error.URLError, OSError, ValueError, EOFError) as error:
                failures.append(f"{url}: {error}")
                continue
            if found != expected:
                failures.append(f"{url}: MD5 {found} differs from the official {expected}")
                continue
            temporary = target.with_suffix(".part")
            temporary.write_bytes(data)
            os.replace(temporary, target)
            paths.append(target)
            break
        else:
            raise FileNotFoundError(f"could not download {filename}: " + "; ".join(failures))
    return paths


def first_source(what: str, root: str | os.PathLike | None, load_local: Callable[[Path], dict[str, np.ndarray]],
                 provided: tuple[str, str, Callable[[], dict[str, np.ndarray]]] | None,
                 fetch: Callable[[Path], object], download: bool, cache_folder: str,
                 error_class: type[Exception]) -> tuple[dict[str, np.ndarray], str]:
    """The arrays of the first source that works, and where they came from: local IDX files under ``root`` (or
    ``$TRW_RAY_DATA_ROOT``), then ``provided`` (``(label, where, loader)``: a bundled or system copy), then ``fetch``
    into ``root`` (default ``~/.cache/trw_ray/<cache_folder>``) when ``download``.

    Raises:
        error_class: no source worked; the message lists each source tried and why it failed.
    """
    explicit_root = root if root is not None else os.environ.get(DATA_ROOT_ENV)
    tried: list[str] = []
    if explicit_root is not None:
        local_root = Path(explicit_root).expanduser()
        try:
            return load_local(local_root), f"IDX files under {local_root}"
        except (OSError, ValueError, EOFError) as error:
            tried.append(f"local files: {error}")
    else:
        tried.append(f"local files: no root given and ${DATA_ROOT_ENV} is not set")
    if provided is not None:
        label, where, loader = provided
        try:
            return loader(), where
        except Exception as error:  # a broken third-party copy must not hide the other sources
            tried.append(f"{label}: {type(error).__name__}: {error}")
    if download:
        target = Path(explicit_root).expanduser() if explicit_root else Path.home() / ".cache" / "trw_ray" / cache_folder
        try:
            fetch(target)
            return load_local(target), f"downloaded to {target}"
        except (OSError, ValueError, EOFError) as error:
            tried.append(f"download: {error}")
    else:
        tried.append("download: disabled")
    raise error_class(f"{what} could not be loaded. Tried, in order:\n  - " + "\n  - ".join(tried))
