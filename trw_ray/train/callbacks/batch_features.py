"""What the callbacks (and the error report) look for in a batch, in one place: its first image-like feature.

Torch-free: a report built outside training (the error report) does not import torch to find the images.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _first_item(value: Any) -> np.ndarray | None:
    """The first sample of a feature as a numpy array (a tensor is detached and moved to the CPU), or None."""
    if isinstance(value, np.ndarray):
        return value[0] if len(value) else None
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):  # a torch.Tensor, torch not imported
        return value[0].detach().cpu().numpy() if len(value) else None
    return None


def first_image_feature(batch: dict[str, Any] | None) -> str | None:
    """The name of the first image-like feature of a batch (a numpy array or tensor whose samples display as
    images), if any."""
    from trw_ray.reports import plots

    for name, value in (batch or {}).items():
        first = _first_item(value)
        if first is not None and plots.to_displayable_image(np.asarray(first)) is not None:
            return name
    return None
