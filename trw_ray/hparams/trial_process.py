"""One trial's process state in a (reused) Tune actor: seeded random generators and torch's thread count.

torch is set up when the trial starts if it is loaded, else the moment the trial imports it: a trial whose
function never uses torch does not pay its import (about 2 s per actor on 2 cores), and one that imports it
late (``trw.train.Trainer`` loads on first use) still starts from the trial's seed.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import random
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np


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

    Insert it at the front of ``sys.meta_path``; it removes itself when the module is imported.
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


@contextlib.contextmanager
def trial_process_state(seed: int, threads: int) -> Iterator[None]:
    """Seeds ``random``, numpy and torch with ``seed`` and runs torch on ``threads`` threads inside the block.

    torch's thread count is restored afterwards; a torch imported inside the block is set up on import.
    """
    random.seed(seed)
    np.random.seed(seed)
    restore: list[tuple[ModuleType, int]] = []

    def set_up_torch(torch: ModuleType) -> None:
        restore.append((torch, torch.get_num_threads()))
        torch.manual_seed(seed)
        torch.set_num_threads(threads)

    hook = None
    if "torch" in sys.modules:
        set_up_torch(sys.modules["torch"])
    else:
        hook = AfterImport("torch", set_up_torch)
        sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        if hook is not None:
            hook.remove()
        for torch, previous in restore:
            torch.set_num_threads(previous)
