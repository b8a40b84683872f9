"""trw_ray: Torch Research Workflows on Ray.

``import trw_ray as trw`` gives the namespaces of TRW's documentation: ``trw.train`` (Trainer, outputs,
optimizers, sequences), ``trw.datasets`` (MNIST), ``trw.simple_layers``, ``trw.hparams``, ``trw.nas`` (architecture
search), ``trw.tracking`` (MLflow, W&B, TensorBoard HParams), and the rest as they land. Sub-packages load on first use, so a Ray worker that only needs ``trw_ray.data`` does not import
the reports' plotting libraries.
"""

from trw_ray.lazy_import import lazy_exports

__version__ = "0.1.0"

_SUBMODULES = {
    "train": "trw_ray.train",
    "datasets": "trw_ray.datasets",
    "simple_layers": "trw_ray.layers",
    "layers": "trw_ray.layers",
    "hparams": "trw_ray.hparams",
    "data": "trw_ray.data",
    "results": "trw_ray.results",
    "reports": "trw_ray.reports",
    "nas": "trw_ray.nas",
    "tracking": "trw_ray.tracking",
}


__getattr__, __dir__ = lazy_exports(globals(), _SUBMODULES)


__all__ = ["__version__", *_SUBMODULES]
