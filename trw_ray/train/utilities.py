"""Small helpers of the training API."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def to_value(value: Any) -> Any:
    """Turns a tensor into a Python number (one element) or a numpy array; other values pass unchanged.

    Examples:
        >>> to_value(torch.tensor(0.5))
        0.5
    """
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return value.item() if value.numel() == 1 else value.numpy()
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def qualified_name(obj: Any) -> str:
    """``module:QualName`` of an object's class (or of a class)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"
