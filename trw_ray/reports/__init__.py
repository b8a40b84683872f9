"""Reports: figures, text tables and static HTML built from arrays, tables and run folders.

This package never imports ``trw_ray.train``, ``hparams`` or ``nas``: the Trainer's callbacks call it with
plain data, and the same functions serve the driver's reports of a search. Its sub-modules load on first use
(matplotlib and scikit-learn take seconds to import; a Ray worker that only trains should not pay for them).
"""

import importlib
import importlib.util
import sys
from types import ModuleType

_EXPORTS = {"ClassificationSummary": "classification", "summarize_classification": "classification",
            "compare_runs": "compare", "build_run_index": "html"}


def lazy_module(name: str) -> ModuleType:
    """``name`` imported on first attribute access (at once if it is already loaded)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"trw_ray.reports.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'trw_ray.reports' has no attribute {name!r}")


__all__ = ["ClassificationSummary", "build_run_index", "compare_runs", "lazy_module", "summarize_classification"]
