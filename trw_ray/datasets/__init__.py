"""Dataset loaders. Each accepts local files, then a bundled copy, then downloads where a network exists."""

from trw_ray.datasets.fashion_mnist import (
    FashionMnistNotFoundError,
    create_fashion_mnist_dataset,
    load_fashion_mnist_arrays,
)
from trw_ray.datasets.mnist import (
    MnistNotFoundError,
    create_mnist_dataset,
    create_mnist_datasset,
    load_mnist_arrays,
)

__all__ = ["FashionMnistNotFoundError", "create_fashion_mnist_dataset", "load_fashion_mnist_arrays", "MnistNotFoundError", "create_mnist_dataset", "create_mnist_datasset", "load_mnist_arrays"]
