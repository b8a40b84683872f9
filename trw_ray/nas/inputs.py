"""Ready-made ``inputs_fn`` for architecture searches (named in ``search_spaces/nas_*.yaml``): MNIST and
Fashion-MNIST in [0, 1], a training subset (halved by the search into weights / architecture samples)."""

from __future__ import annotations


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
