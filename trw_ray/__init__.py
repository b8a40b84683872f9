"""trw_ray: Torch Research Workflows on Ray.

``import trw_ray as trw`` gives the namespaces of TRW's documentation: ``trw.train`` (Trainer, outputs,
optimizers, sequences), ``trw.datasets`` (MNIST, ...), and the ones built on them as they land.
"""

from __future__ import annotations

import importlib

from trw_ray import datasets, train

__version__ = "0.1.0"

_LAZY_SUBMODULES = {
    "simple_layers": "trw_ray.layers",
    "layers": "trw_ray.layers",
    "hparams": "trw_ray.hparams",
    "data": "trw_ray.data",
    "results": "trw_ray.results",
    "reports": "trw_ray.reports",
}


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(_LAZY_SUBMODULES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'trw_ray' has no attribute {name!r}")


__all__ = ["train", "datasets", "__version__", *_LAZY_SUBMODULES]
