"""Training options: the nested dict that TRW users know (``options['workflow_options'][...]``)."""

from __future__ import annotations

import os
from typing import Any

import torch

from trw_ray.checks import positive_int
from trw_ray.io import default_logging_directory
from trw_ray.train.data_parallel import data_parallel_devices

MIXED_PRECISION_CHOICES = (None, "bf16", "fp16")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turns ``None`` (cuda when available, else cpu), a string or a ``torch.device`` into a usable device.

    Raises:
        ValueError: the string is not a device name, or names a device this machine does not have.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        resolved = device
    elif isinstance(device, str):
        try:
            resolved = torch.device(device)
        except RuntimeError as error:
            raise ValueError(
                f"device: expected 'cpu', 'cuda', 'cuda:N', 'mps' or None (auto); got {device!r}"
            ) from error
    else:
        raise TypeError(f"device: expected a str, torch.device or None; got {type(device).__name__}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {str(resolved)!r} was asked for but CUDA is not available on this machine")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device: {str(resolved)!r} was asked for but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    if resolved.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError("device: 'mps' was asked for but MPS is not available on this machine")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device: expected a cpu, cuda or mps device; got {device!r}")
    return resolved


def create_default_options(
    num_epochs: int = 10,
    device: str | torch.device | None = None,
    logging_directory: str | os.PathLike | None = None,
    mixed_precision: str | None = None,
    gradient_accumulation_steps: int = 1,
    gradient_clipping_norm: float | None = None,
    progress_bar: bool | None = None,
    seed: int | None = None,
    data_parallel: str | bool = "auto",
) -> dict[str, Any]:
    """Creates the options a :class:`~trw_ray.train.Trainer` runs with.

    Args:
        num_epochs: number of training epochs.
        device: ``None`` picks cuda when available, else cpu; or ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
        logging_directory: where run folders are created; default ``$TRW_RAY_LOGGING_ROOT`` or ``~/trw_ray_logs``.
        mixed_precision: ``None`` (full precision), ``'bf16'`` or ``'fp16'`` autocast (fp16 needs CUDA and
            uses a gradient scaler).
        gradient_accumulation_steps: the optimizer steps once every N training batches.
        gradient_clipping_norm: when set, gradients are clipped to this global L2 norm before each step.
        progress_bar: ``None`` shows a bar only when stderr is a terminal.
        seed: when set, ``torch.manual_seed(seed)`` is called before the model is created.
        data_parallel: ``'auto'`` splits every batch over all visible GPUs when the device is ``cuda`` and more than
            one is visible (a search trial given ``{'gpu': 2}``), see :mod:`trw_ray.train.data_parallel`; True
            requires two GPUs or more; False trains on one device.

    Examples:
        >>> options = create_default_options(num_epochs=5, device='cpu')
        >>> options['training_parameters']['num_epochs']
        5
    """
    positive_int(num_epochs, "num_epochs")
    if mixed_precision not in MIXED_PRECISION_CHOICES:
        raise ValueError(f"mixed_precision: expected one of {MIXED_PRECISION_CHOICES}; got {mixed_precision!r}")
    positive_int(gradient_accumulation_steps, "gradient_accumulation_steps")
    if gradient_clipping_norm is not None and not gradient_clipping_norm > 0:
        raise ValueError(f"gradient_clipping_norm: expected None or a number > 0; got {gradient_clipping_norm!r}")
    resolved_device = resolve_device(device)
    data_parallel_devices(resolved_device, data_parallel)  # validates the choice against the machine
    if mixed_precision == "fp16" and resolved_device.type != "cuda":
        raise ValueError(
            f"mixed_precision: 'fp16' autocast needs a CUDA device; the device is {str(resolved_device)!r} "
            "(use 'bf16' on CPU)"
        )
    return {
        "workflow_options": {
            "logging_directory": str(logging_directory) if logging_directory is not None else default_logging_directory(),
            "device": resolved_device,
            "progress_bar": progress_bar,
            "data_parallel": data_parallel,
        },
        "training_parameters": {
            "num_epochs": num_epochs,
            "mixed_precision": mixed_precision,
            "gradient_accumulation_steps": gradient_accumulation_steps,
            "gradient_clipping_norm": gradient_clipping_norm,
            "seed": seed,
        },
    }
