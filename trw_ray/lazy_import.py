"""Modules that may not be loaded: a process that never uses torch (a Ray worker running a numpy augmentation, a
trial of a trivial objective) never imports it, and code that must act on torch does so when it arrives."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
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
