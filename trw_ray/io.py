"""Files: the logging root, and atomic writes (a file that matters is written to a temporary name, then renamed
over the target)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()

LOGGING_ROOT_ENV = "TRW_RAY_LOGGING_ROOT"


def default_logging_directory() -> str:
    """``$TRW_RAY_LOGGING_ROOT`` when set, else ``~/trw_ray_logs``."""
    root = os.environ.get(LOGGING_ROOT_ENV)
    if root:
        return str(Path(root).expanduser())
    return str(Path.home() / "trw_ray_logs")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


def json_scalar(value: Any) -> Any:
    """``value`` as a JSON scalar (numpy and one-element tensors unwrapped; NaN and infinities None); None for
    anything that is not a scalar."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return value if not isinstance(value, float) or math.isfinite(value) else None
    if hasattr(value, "item"):
        try:
            return json_scalar(value.item())
        except (ValueError, TypeError, RuntimeError):
            return None
    return None


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data: numpy values and arrays converted, NaN and infinities None, anything else that
    JSON cannot hold as its ``str``."""
    return _finite_or_none(json.loads(json.dumps(value, default=_json_default)))


def atomic_write(path: str | os.PathLike, write_fn, mode: str = "w") -> Path:
    """Calls ``write_fn(file)`` on a temporary file next to ``path``, then renames it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, 0o666 & ~_UMASK)
        with os.fdopen(handle, mode) as file:
            write_fn(file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda file: file.write(text))


def write_json_atomic(path: str | os.PathLike, value: Any) -> Path:
    """Writes ``value`` as JSON (numpy values converted; NaN and infinities become null)."""
    text = json.dumps(to_json(value), indent=1)
    return write_text_atomic(path, text)
