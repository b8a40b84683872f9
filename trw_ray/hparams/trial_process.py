"""One trial's process state in a (reused) Tune actor: seeded random generators and torch's thread count.

torch is set up when the trial starts if it is loaded, else the moment the trial imports it: a trial whose
function never uses torch does not pay its import (about 2 s per actor on 2 cores), and one that imports it
late (``trw.train.Trainer`` loads on first use) still starts from the trial's seed.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from types import ModuleType

import numpy as np

from trw_ray.lazy_import import when_imported


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

    hook = when_imported("torch", set_up_torch)
    try:
        yield
    finally:
        if hook is not None:
            hook.remove()
        for torch, previous in restore:
            torch.set_num_threads(previous)
