"""Everything trw_ray loads late, in one place: a process that never uses torch (a Ray worker running a numpy
augmentation, a trial of a trivial objective) never imports it, a package's heavy names (matplotlib, scikit-learn,
Ray Tune) load on first use, and code that must act on torch does so when it arrives.

- :func:`lazy_exports`: a package's names loaded on first use (PEP 562), as ``trw_ray``, ``trw_ray.train``,
  ``trw_ray.hparams``, ``trw_ray.nas`` and ``trw_ray.reports`` declare them;
- :func:`lazy_module`: a module-level name for a module loaded on first attribute access;
- :func:`when_imported` / :class:`AfterImport`: run an action once a module has been imported;
- :func:`is_tensor`: ``isinstance(value, torch.Tensor)`` without importing torch.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any


def is_tensor(value: Any) -> bool:
    """``isinstance(value, torch.Tensor)`` without importing torch (no tensor exists before torch is loaded)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


class _ActingLoader(importlib.abc.Loader):
    """Runs a module with its own loader, then calls ``action(module)``."""

    def __init__(self, loader: Any, action: Callable[[ModuleType], None]):
        self._loader = loader
        self._action = action

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._action(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class AfterImport(importlib.abc.MetaPathFinder):
    """A one-shot import hook: ``action(module)`` runs once the top-level module ``name`` has been executed.

    Insert it at the front of ``sys.meta_path`` (or use :func:`when_imported`); it removes itself when the module
    is imported.
    """

    def __init__(self, name: str, action: Callable[[ModuleType], None]):
        self.name = name
        self.action = action

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname != self.name:
            return None
        self.remove()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ActingLoader(spec.loader, self.action)
        return spec

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)


def when_imported(name: str, action: Callable[[ModuleType], None]) -> AfterImport | None:
    """Calls ``action(module)`` now when the top-level module ``name`` is loaded, else as soon as it is imported.

    Returns the pending hook (``.remove()`` cancels it), or None when the action already ran.
    """
    module = sys.modules.get(name)
    if module is not None:
        action(module)
        return None
    hook = AfterImport(name, action)
    sys.meta_path.insert(0, hook)
    return hook


def lazy_exports(namespace: dict[str, Any], exports: Mapping[str, str]):
    """``(__getattr__, __dir__)`` for a package whose names load on first use (PEP 562).

    ``exports`` maps each name to ``'module'`` (the name is that module) or ``'module:attribute'``; a loaded name
    is stored in ``namespace`` (the package's ``globals()``), so it loads once.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attribute = exports[name].partition(":")
        value = importlib.import_module(module_name)
        if attribute:
            value = getattr(value, attribute)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__


def lazy_module(name: str) -> ModuleType:
    """``name`` imported on first attribute access (at once if it is already loaded): for a module-level name such
    as ``plots = lazy_module('trw_ray.reports.plots')`` in a module that must import fast."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
