"""Optimizer factories with TRW's signature: ``optimizers_fn(datasets, model) -> (optimizers, schedulers)``.

Each dataset that has a ``train`` split gets its own optimizer (sharing the model's parameters), and a
learning-rate scheduler when ``scheduler_fn`` is given; schedulers step once per epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from trw_ray.checks import positive_int

SchedulerFn = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


def _check_learning_rate(learning_rate: float) -> None:
    if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool) or not learning_rate > 0:
        raise ValueError(f"learning_rate: expected a number > 0; got {learning_rate!r}")


def _create_optimizers(datasets: Mapping, model: torch.nn.Module, optimizer_fn, scheduler_fn: SchedulerFn | None):
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module; got {type(model).__name__}")
    if scheduler_fn is not None and not callable(scheduler_fn):
        raise TypeError(f"scheduler_fn: expected a callable optimizer -> scheduler; got {scheduler_fn!r}")
    optimizers, schedulers = {}, {}
    for dataset_name in datasets:
        optimizer = optimizer_fn(model.parameters())
        optimizers[dataset_name] = optimizer
        if scheduler_fn is not None:
            schedulers[dataset_name] = scheduler_fn(optimizer)
    return optimizers, schedulers


def create_sgd_optimizers_fn(
    datasets: Mapping,
    model: torch.nn.Module,
    learning_rate: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    scheduler_fn: SchedulerFn | None = None,
):
    """SGD with momentum for every dataset.

    Examples:
        >>> optimizers_fn = lambda datasets, model: create_sgd_optimizers_fn(datasets, model, learning_rate=0.1)
    """
    _check_learning_rate(learning_rate)
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum: expected 0 <= momentum < 1; got {momentum!r}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay: expected >= 0; got {weight_decay!r}")
    return _create_optimizers(
        datasets,
        model,
        lambda params: torch.optim.SGD(
            params, lr=learning_rate, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov
        ),
        scheduler_fn,
    )


def create_adam_optimizers_fn(
    datasets: Mapping,
    model: torch.nn.Module,
    learning_rate: float,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = True,
    scheduler_fn: SchedulerFn | None = None,
):
    """Adam (AdamW when ``decoupled_weight_decay``) for every dataset."""
    _check_learning_rate(learning_rate)
    if weight_decay < 0:
        raise ValueError(f"weight_decay: expected >= 0; got {weight_decay!r}")
    optimizer_class = torch.optim.AdamW if decoupled_weight_decay else torch.optim.Adam
    return _create_optimizers(
        datasets,
        model,
        lambda params: optimizer_class(params, lr=learning_rate, betas=betas, weight_decay=weight_decay),
        scheduler_fn,
    )


def create_scheduler_step_lr(step_size: int, gamma: float = 0.1) -> SchedulerFn:
    """A ``scheduler_fn`` multiplying the learning rate by ``gamma`` every ``step_size`` epochs."""
    positive_int(step_size, "step_size")
    return lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)


def create_scheduler_cosine(num_epochs: int, min_learning_rate: float = 0.0) -> SchedulerFn:
    """A ``scheduler_fn`` decaying the learning rate along a cosine to ``min_learning_rate`` over ``num_epochs``."""
    positive_int(num_epochs, "num_epochs")
    return lambda optimizer: torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=num_epochs, eta_min=min_learning_rate
    )
