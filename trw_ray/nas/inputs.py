"""Ready-made ``inputs_fn`` for architecture searches (named in ``search_spaces/nas_*.yaml``): MNIST and
Fashion-MNIST in [0, 1], a training subset (halved by the search into weights / architecture samples)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

from trw_ray.layout import TRAIN_SPLIT


def resolve_inputs(inputs_fn: Callable | str, inputs_kwargs: Mapping[str, Any] | None) -> Callable[[], Mapping]:
    """``inputs_fn`` (a function or ``'module:function'``) bound to ``inputs_kwargs``; TypeError naming ``inputs_fn``."""
    from trw_ray.hparams.space import import_function

    function = import_function(inputs_fn, "inputs_fn") if isinstance(inputs_fn, str) else inputs_fn
    if not callable(function):
        raise TypeError(f"inputs_fn: expected a function () -> datasets or 'module:function'; got {inputs_fn!r}")
    return functools.partial(function, **dict(inputs_kwargs or {}))


def dataset_shape(datasets: Mapping[str, Mapping[str, Any]], target: str = "targets",
                  feature: str = "images") -> tuple[int, int]:
    """(classes, image channels) of the datasets (from the class names and the training split's images; 10 and 1
    when they cannot be told)."""
    classes, channels = 10, 1
    for splits in datasets.values():
        for sequence in splits.values():
            names = (getattr(sequence, "class_names", None) or {}).get(target)
            classes = len(names) if names else classes
        values = getattr(splits.get(TRAIN_SPLIT), "split", {}).get(feature)
        if values is not None and getattr(values, "ndim", 0) == 4:
            channels = int(values.shape[1])
    return classes, channels


def split_accuracy(outputs: Mapping[str, Any]) -> float:
    """The accuracy of a split's first output that has one (NaN when none does)."""
    return next((m["accuracy"] for m in outputs.values() if isinstance(m, Mapping) and "accuracy" in m), math.nan)


def mnist_inputs(max_train_samples: int | None = 1000, max_eval_samples: int | None = 500, batch_size: int = 64,
                 seed: int = 0):
    """``{'mnist': {train, valid, test}}`` (see :func:`trw_ray.datasets.create_mnist_dataset`)."""
    from trw_ray.datasets.mnist import create_mnist_dataset

    return create_mnist_dataset(batch_size=batch_size, normalize_0_1=True, max_train_samples=max_train_samples,
                                max_eval_samples=max_eval_samples, seed=seed)


def fashion_mnist_inputs(max_train_samples: int | None = 10_000, max_eval_samples: int | None = 5000,
                         batch_size: int = 64, seed: int = 0):
    """``{'fashion_mnist': {train, valid, test}}`` (see :func:`trw_ray.datasets.create_fashion_mnist_dataset`)."""
    from trw_ray.datasets.fashion_mnist import create_fashion_mnist_dataset

    return create_fashion_mnist_dataset(batch_size=batch_size, normalize_0_1=True, max_train_samples=max_train_samples,
                                        max_eval_samples=max_eval_samples, seed=seed)
