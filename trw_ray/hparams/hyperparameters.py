"""Define-by-run hyper-parameters: the user's code asks for each one where it needs it.

``hparams.create(name, spec)`` returns the value assigned to ``name`` (by a search trial) or, outside a
search, the spec's default. Every call is recorded, so running the code once discovers the space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trw_ray.hparams.params import Param


class HyperParameters:
    """The hyper-parameters of one run.

    Args:
        values: ``{name: value}`` chosen for this run (mapping parameters: the key); names not given get their
            default.

    Example:
        >>> hparams = HyperParameters()
        >>> hparams.create('learning_rate', ContinuousUniform(0.1, 1e-5, 1.0))
        0.1
        >>> HyperParameters({'learning_rate': 0.01}).create('learning_rate', ContinuousUniform(0.1, 1e-5, 1.0))
        0.01
    """

    def __init__(self, values: Mapping[str, Any] | None = None):
        if values is not None and not isinstance(values, Mapping):
            raise TypeError(f"values: expected a dict {{name: value}} or None; got {type(values).__name__}")
        self.values: dict[str, Any] = dict(values or {})
        self.specs: dict[str, Param] = {}
        self.chosen: dict[str, Any] = {}

    def create(self, name: str, spec: Param) -> Any:
        """Declares hyper-parameter ``name`` with range ``spec`` and returns its value for this run."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"name: expected a non-empty str; got {name!r}")
        if not isinstance(spec, Param):
            raise TypeError(f"spec: expected a parameter spec (DiscreteInteger, ContinuousUniform, ...); "
                            f"got {type(spec).__name__}")
        known = self.specs.get(name)
        if known is not None and known != spec:
            raise ValueError(f"hyper-parameter {name!r} was declared twice with different specs: {known} and {spec}")
        self.specs[name] = spec
        value = spec.validate(self.values[name]) if name in self.values else spec.default
        self.chosen[name] = value
        return spec.resolve(value)

    def __repr__(self) -> str:
        return f"HyperParameters({self.chosen})"
