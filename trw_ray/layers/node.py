"""The node: a declared layer that knows its inputs, its output shape and how to build its torch module.

Shapes are lists with ``None`` for the batch dimension, e.g. ``[None, 1, 28, 28]``. Every node computes its
output shape when it is declared, so a layer that cannot work is refused there, with its type, where it was
declared, the input shape and what it needs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

Shape = list  # [None, d1, d2, ...]

_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _declaration_site() -> str:
    frame = sys._getframe(1)
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "?"
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"


def as_tuple(value: int | Sequence[int], length: int, argument: str, who: str) -> tuple[int, ...]:
    """``3`` -> ``(3, 3)``; checks a sequence has ``length`` items."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * length
    if isinstance(value, Sequence) and len(value) == length and all(isinstance(v, int) for v in value):
        return tuple(value)
    raise ValueError(f"{who}: {argument} must be an int or {length} ints; got {value!r}")


class Node:
    """Base of every node. Subclasses set ``shape`` in their constructor and implement ``create_module``
    (or ``forward`` for module-less operations)."""

    registry: ClassVar[dict[str, type[Node]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            Node.registry[cls.__name__] = cls

    def __init__(self, parents: Sequence[Node], args: dict[str, Any]):
        for parent in parents:
            if not isinstance(parent, Node):
                raise TypeError(f"{type(self).__name__}: inputs must be simple-layer nodes; got {type(parent).__name__}")
        self.parents = list(parents)
        self.args = args
        self.site = _declaration_site()
        self.shape: Shape = []

    @property
    def label(self) -> str:
        return f"{type(self).__name__} (declared at {self.site})"

    def input_shape(self, index: int = 0) -> Shape:
        return self.parents[index].shape

    def require_rank(self, ranks: Sequence[int], what: str) -> Shape:
        shape = self.input_shape()
        if len(shape) not in ranks:
            raise ValueError(f"{self.label}: input shape {shape} does not fit; it needs {what}")
        return shape

    def create_module(self) -> torch.nn.Module | None:
        """The torch module of this node; None for operations without parameters or state."""
        return None

    def forward(self, module: torch.nn.Module | None, inputs: list[torch.Tensor], batch: dict[str, Any]) -> Any:
        """Computes the node from its inputs (``module`` is what ``create_module`` returned)."""
        return module(*inputs)

    @classmethod
    def from_description(cls, parents: list[Node], args: dict[str, Any]) -> Node:
        return cls(*parents, **args)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape})"
