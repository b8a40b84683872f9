"""Parameter specs: the range of one hyper-parameter and its default.

Each spec validates its arguments, samples a value with a given ``numpy.random.Generator`` and checks a
value given from outside (a search, a file). ``DiscreteMapping`` values are keys; ``resolve`` maps them.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


class Param(abc.ABC):
    """Base of parameter specs."""

    default: Any

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """A random value of the range (for mappings: a key)."""

    @abc.abstractmethod
    def validate(self, value: Any) -> Any:
        """``value`` converted to the spec's type; ValueError when it is outside the range."""

    def resolve(self, value: Any) -> Any:
        """What the user's code receives for ``value`` (the value itself except for mappings)."""
        return value

    @abc.abstractmethod
    def to_unit(self, value: Any) -> float:
        """``value`` as a position in [0, 1] (log scale for powers; the middle of its cell for discrete values),
        the uniform measure that importance analysis and mutation work in."""

    @abc.abstractmethod
    def from_unit(self, position: float) -> Any:
        """The value at ``position`` in [0, 1] (inverse of :meth:`to_unit`)."""

    @abc.abstractmethod
    def grid(self, points: int) -> list[Any]:
        """Grid-search values: every choice of a discrete spec, ``points`` evenly spaced values of a continuous one."""

    @property
    def choices(self) -> list[Any] | None:
        """The values of a categorical spec (value, mapping key, boolean); None for ordered ones."""
        return None

    def mutate(self, value: Any, rng: np.random.Generator, scale: float = 0.15) -> Any:
        """A neighbour of ``value``: another choice for categorical specs, a gaussian step of ``scale`` (in the
        unit measure) otherwise, never ``value`` itself when the range has another value."""
        choices = self.choices
        if choices is not None:
            others = [choice for choice in choices if choice != value]
            return others[int(rng.integers(len(others)))] if others else value
        position = self.to_unit(value)
        for _ in range(16):
            candidate = self.from_unit(float(np.clip(position + rng.normal(0.0, scale), 0.0, 1.0)))
            if candidate != value:
                return candidate
        return self.sample(rng)

    def describe(self) -> dict[str, Any]:
        """The spec as JSON-serializable data (``type`` plus constructor arguments)."""
        return {"type": type(self).__name__, **self.__dict__}

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.__dict__.items()))))

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.__dict__.items())
        return f"{type(self).__name__}({arguments})"


class DiscreteValue(Param):
    """One of ``values``, e.g. ``DiscreteValue('relu', ['relu', 'elu'])``."""

    def __init__(self, default: Any, values: Sequence[Any]):
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"DiscreteValue: values must be a non-empty list; got {values!r}")
        if default not in values:
            raise ValueError(f"DiscreteValue: default must be one of values {list(values)}; got {default!r}")
        self.default = default
        self.values = list(values)

    def sample(self, rng):
        return self.values[int(rng.integers(len(self.values)))]

    def validate(self, value):
        if value not in self.values:
            raise ValueError(f"DiscreteValue: {value!r} is not one of {self.values}")
        return value

    @property
    def choices(self):
        return list(self.values)

    def to_unit(self, value):
        return (self.values.index(value) + 0.5) / len(self.values)

    def from_unit(self, position):
        return self.values[min(int(position * len(self.values)), len(self.values) - 1)]

    def grid(self, points):
        return list(self.values)


class DiscreteMapping(Param):
    """A key of ``mapping``; the code receives ``mapping[key]``, e.g. ``DiscreteMapping('relu', {'relu': nn.ReLU})``."""

    def __init__(self, default: str, mapping: Mapping[str, Any]):
        if not isinstance(mapping, Mapping) or not mapping:
            raise ValueError(f"DiscreteMapping: mapping must be a non-empty dict; got {mapping!r}")
        if default not in mapping:
            raise ValueError(f"DiscreteMapping: default must be a key of mapping {list(mapping)}; got {default!r}")
        self.default = default
        self.mapping = dict(mapping)

    def sample(self, rng):
        keys = list(self.mapping)
        return keys[int(rng.integers(len(keys)))]

    def validate(self, value):
        if value not in self.mapping:
            raise ValueError(f"DiscreteMapping: {value!r} is not a key of {list(self.mapping)}")
        return value

    def resolve(self, value):
        return self.mapping[value]

    @property
    def choices(self):
        return list(self.mapping)

    def to_unit(self, value):
        return (list(self.mapping).index(value) + 0.5) / len(self.mapping)

    def from_unit(self, position):
        keys = list(self.mapping)
        return keys[min(int(position * len(keys)), len(keys) - 1)]

    def grid(self, points):
        return list(self.mapping)

    def describe(self):
        return {"type": "DiscreteMapping", "default": self.default, "keys": list(self.mapping)}


class DiscreteInteger(Param):
    """An integer in ``[min, max]`` (both included)."""

    def __init__(self, default: int, min: int, max: int):  # noqa: A002 - the documentation's argument names
        for name, value in (("default", default), ("min", min), ("max", max)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise ValueError(f"DiscreteInteger: {name} must be an integer; got {value!r}")
        if not min <= default <= max:
            raise ValueError(f"DiscreteInteger: `min <= default <= max` must hold; got ({min=}, {default=}, {max=})")
        self.default, self.min, self.max = int(default), int(min), int(max)

    def sample(self, rng):
        return int(rng.integers(self.min, self.max + 1))

    def validate(self, value):
        if not _is_number(value) or int(value) != value or not self.min <= value <= self.max:
            raise ValueError(f"DiscreteInteger: {value!r} is not an integer in [{self.min}, {self.max}]")
        return int(value)

    def to_unit(self, value):
        return (int(value) - self.min + 0.5) / (self.max - self.min + 1)

    def from_unit(self, position):
        return min(self.min + int(position * (self.max - self.min + 1)), self.max)

    def grid(self, points):
        if self.max - self.min + 1 <= points:
            return list(range(self.min, self.max + 1))
        return sorted({int(round(v)) for v in np.linspace(self.min, self.max, points)})


class DiscreteBoolean(Param):
    """True or False."""

    def __init__(self, default: bool):
        if not isinstance(default, (bool, np.bool_)):
            raise ValueError(f"DiscreteBoolean: default must be a bool; got {default!r}")
        self.default = bool(default)

    def sample(self, rng):
        return bool(rng.integers(2))

    def validate(self, value):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"DiscreteBoolean: {value!r} is not a bool")
        return bool(value)

    @property
    def choices(self):
        return [False, True]

    def to_unit(self, value):
        return 0.75 if value else 0.25

    def from_unit(self, position):
        return bool(position >= 0.5)

    def grid(self, points):
        return [False, True]


class ContinuousUniform(Param):
    """A float drawn uniformly in ``[min, max]``."""

    def __init__(self, default: float, min: float, max: float):  # noqa: A002
        for name, value in (("default", default), ("min", min), ("max", max)):
            if not _is_number(value) or not math.isfinite(value):
                raise ValueError(f"ContinuousUniform: {name} must be a finite number; got {value!r}")
        if not min < max or not min <= default <= max:
            raise ValueError(f"ContinuousUniform: `min <= default <= max` and `min < max` must hold; "
                             f"got ({min=}, {default=}, {max=})")
        self.default, self.min, self.max = float(default), float(min), float(max)

    def sample(self, rng):
        return float(rng.uniform(self.min, self.max))

    def validate(self, value):
        if not _is_number(value) or not self.min <= value <= self.max:
            raise ValueError(f"ContinuousUniform: {value!r} is not a number in [{self.min}, {self.max}]")
        return float(value)

    def to_unit(self, value):
        return (float(value) - self.min) / (self.max - self.min)

    def from_unit(self, position):
        return float(self.min + position * (self.max - self.min))

    def grid(self, points):
        return [float(v) for v in np.linspace(self.min, self.max, points)]


class ContinuousPower(Param):
    """``10 ** e`` with ``e`` uniform in ``[exponent_min, exponent_max]`` (a log-uniform value)."""

    def __init__(self, default: float, exponent_min: float, exponent_max: float):
        for name, value in (("default", default), ("exponent_min", exponent_min), ("exponent_max", exponent_max)):
            if not _is_number(value) or not math.isfinite(value):
                raise ValueError(f"ContinuousPower: {name} must be a finite number; got {value!r}")
        if not exponent_min < exponent_max:
            raise ValueError(f"ContinuousPower: `exponent_min < exponent_max` must hold; got ({exponent_min=}, {exponent_max=})")
        low, high = 10.0 ** exponent_min, 10.0 ** exponent_max
        if not low * (1 - 1e-12) <= default <= high * (1 + 1e-12):
            raise ValueError(f"ContinuousPower: default must be in [10**{exponent_min}, 10**{exponent_max}] = "
                             f"[{low:g}, {high:g}]; got {default!r}")
        self.default, self.exponent_min, self.exponent_max = float(default), float(exponent_min), float(exponent_max)

    def sample(self, rng):
        return float(10.0 ** rng.uniform(self.exponent_min, self.exponent_max))

    def validate(self, value):
        low, high = 10.0 ** self.exponent_min, 10.0 ** self.exponent_max
        if not _is_number(value) or not low * (1 - 1e-12) <= value <= high * (1 + 1e-12):
            raise ValueError(f"ContinuousPower: {value!r} is not a number in [{low:g}, {high:g}]")
        return float(value)

    def to_unit(self, value):
        exponent = math.log10(max(float(value), 1e-300))
        return min(max((exponent - self.exponent_min) / (self.exponent_max - self.exponent_min), 0.0), 1.0)

    def from_unit(self, position):
        return float(10.0 ** (self.exponent_min + position * (self.exponent_max - self.exponent_min)))

    def grid(self, points):
        return [float(10.0 ** e) for e in np.linspace(self.exponent_min, self.exponent_max, points)]


#: the spelling of TRW's documentation
DiscreteIntegrer = DiscreteInteger

#: every spec by its type name (YAML space files, JSON descriptions)
PARAM_TYPES: dict[str, type[Param]] = {
    cls.__name__: cls for cls in (DiscreteValue, DiscreteMapping, DiscreteInteger, DiscreteBoolean,
                                  ContinuousUniform, ContinuousPower)
}
PARAM_TYPES["DiscreteIntegrer"] = DiscreteInteger


def param_from_dict(data: Mapping[str, Any], where: str = "parameter") -> Param:
    """Builds a spec from ``{'type': 'ContinuousUniform', 'default': 0.1, 'min': 1e-5, 'max': 1.0}``.

    Raises:
        ValueError: unknown type, missing or unknown argument, invalid range; the message starts with ``where``.
    """
    import inspect

    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping with a 'type' key; got {data!r}")
    kind = data.get("type")
    if kind not in PARAM_TYPES:
        raise ValueError(f"{where}: 'type' must be one of {sorted(PARAM_TYPES)}; got {kind!r}")
    cls = PARAM_TYPES[kind]
    allowed = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    arguments = {key: value for key, value in data.items() if key != "type"}
    unknown = sorted(set(arguments) - set(allowed))
    missing = [name for name in allowed if name not in arguments]
    if unknown or missing:
        problem = f"unknown key(s) {unknown}" if unknown else f"missing key(s) {missing}"
        raise ValueError(f"{where}: {problem}; {kind} takes {allowed}")
    try:
        return cls(**arguments)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error
