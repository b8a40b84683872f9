"""Argument checks shared by every module: each raises with the argument's name, what was expected and what was
given (``ValueError``), never with ``assert``. No dependency beyond the standard library."""

from __future__ import annotations

import math
from typing import Any

MODES = ("min", "max")


def is_finite_number(value: Any) -> bool:
    """A real, finite int or float (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive_int(value: Any, argument: str, minimum: int = 1) -> int:
    """``value`` when it is an integer >= ``minimum``, else a ValueError naming ``argument``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{argument}: expected an integer >= {minimum}; got {value!r}")
    return value


def number(value: Any, argument: str, minimum: float = 0.0) -> float:
    """``value`` as a float when it is a finite number >= ``minimum``, else a ValueError naming ``argument``."""
    if not is_finite_number(value) or value < minimum:
        raise ValueError(f"{argument}: expected a number >= {minimum:g}; got {value!r}")
    return float(value)


def mode(value: Any, argument: str = "mode") -> str:
    """``'min'`` or ``'max'``, else a ValueError naming ``argument``."""
    if value not in MODES:
        raise ValueError(f"{argument}: expected 'min' or 'max'; got {value!r}")
    return value
