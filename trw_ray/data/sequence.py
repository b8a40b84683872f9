"""The interface every input pipeline implements: an iterable of dict batches, one pass per epoch."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any

Batch = dict[str, Any]


class Sequence(abc.ABC):
    """An epoch-iterable source of dict batches (``{feature_name: tensor or list}``).

    Each ``iter(sequence)`` is one epoch. Sequences that hold resources (worker actors) release them in
    :meth:`close`; the Trainer closes the sequences it was given when training ends.
    """

    @abc.abstractmethod
    def __iter__(self) -> Iterator[Batch]:
        """Yields the batches of one epoch."""

    def close(self) -> None:
        """Releases the resources of the sequence (nothing to release by default)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
