"""``last.model``: a state dict plus JSON metadata, loadable with ``torch.load(..., weights_only=True)``."""

from __future__ import annotations

import datetime
import importlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from trw_ray.io import atomic_write
from trw_ray.train.utilities import qualified_name

MODEL_FORMAT = "trw_ray.model/1"


def save_model(path: str | os.PathLike, model: torch.nn.Module, metadata: dict[str, Any] | None = None) -> Path:
    """Atomically writes ``{'state_dict': ..., 'metadata': json}`` to ``path``.

    The metadata always holds the model's class (``module:QualName``), and the graph description when the
    model can describe itself (``model.describe()``, e.g. compiled simple layers or a ``trw_ray.nas`` network,
    whose description names the trw_ray function that rebuilds it), so :func:`load_model` can rebuild it.
    """
    full_metadata = {
        "format": MODEL_FORMAT,
        "model_class": qualified_name(model),
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "torch_version": torch.__version__,
        **(metadata or {}),
    }
    describe = getattr(model, "describe", None)
    if callable(describe):
        full_metadata["model_description"] = describe()
    state_dict = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    payload = {"state_dict": state_dict, "metadata": json.dumps(full_metadata, default=str)}
    return atomic_write(path, lambda file: torch.save(payload, file), mode="wb")


def read_model_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata saved with a ``last.model`` (epoch, run folder, inputs' shapes and dtypes, outputs), without
    building the model.

    Args:
        path: a ``last.model`` file.
    """
    payload = torch.load(path, map_location="cpu", weights_only=True)
    return json.loads(payload["metadata"])


def load_model(
    path: str | os.PathLike, model: torch.nn.Module | None = None, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Loads a model saved by :func:`save_model` (e.g. a run's ``last.model``); returns ``(model, metadata)``.

    Args:
        path: the ``.model`` file.
        model: a module of the same architecture to load the weights into. When None, the model is rebuilt
            from its metadata: compiled simple layers from their description, other classes by calling their
            constructor without arguments.
        device: where to put the model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no model file at {str(path)!r}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "state_dict" not in payload or "metadata" not in payload:
        raise ValueError(f"path: {str(path)!r} is not a trw_ray model file (no state_dict/metadata)")
    metadata = json.loads(payload["metadata"])
    if model is None:
        model = _rebuild(metadata, path)
    model.load_state_dict(payload["state_dict"])
    return model.to(device), metadata


def _builder(description: dict[str, Any], path: Path):
    """The trw_ray function a description names (``module:function``); only trw_ray's own modules are imported."""
    module_name, _, function = str(description["builder"]).partition(":")
    if not module_name.startswith("trw_ray.") or not function:
        raise ValueError(f"load_model: {str(path)!r} names the builder {description['builder']!r}; only "
                         "'trw_ray.<module>:<function>' builders are loaded")
    return getattr(importlib.import_module(module_name), function)


def _rebuild(metadata: dict[str, Any], path: Path) -> torch.nn.Module:
    description = metadata.get("model_description")
    if isinstance(description, dict) and "builder" in description:  # e.g. a trw_ray.nas network
        return _builder(description, path)(description)
    if description is not None:
        from trw_ray.layers import load_description  # noqa: PLC0415 - layers is optional at this point

        return load_description(description)
    module_name, _, qualname = metadata.get("model_class", "").partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj()
    except Exception as error:
        raise ValueError(
            f"load_model: cannot rebuild {metadata.get('model_class')!r} saved in {str(path)!r} "
            f"({type(error).__name__}: {error}); pass model= an instance of the same architecture"
        ) from error
