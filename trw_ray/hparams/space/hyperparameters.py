"""Define-by-run hyper-parameters: the user's code asks for each one where it needs it.

``hparams.create(name, spec)`` returns the value assigned to ``name`` (by a search trial) or, outside a
search, the spec's default. Every call is recorded, so running the code once discovers the space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trw_ray.hparams.space.params import DiscreteMapping, Param


class HyperParameters:
    """The hyper-parameters of one run.

    Args:
        values: ``{name: value}`` chosen for this run (mapping parameters: the key); names not given get their
            default.
        space: the search's specs ``{name: spec}`` when they come from elsewhere than the code (a YAML space): a
            value is then checked against (and resolved by) the search's spec, which may differ from the range
            the code declares.

    Examples:
        >>> hparams = HyperParameters()
        >>> hparams.create('learning_rate', ContinuousUniform(0.1, 1e-5, 1.0))
        0.1
        >>> HyperParameters({'learning_rate': 0.01}).create('learning_rate', ContinuousUniform(0.1, 1e-5, 1.0))
        0.01
    """

    def __init__(self, values: Mapping[str, Any] | None = None, space: Mapping[str, Param] | None = None):
        if values is not None and not isinstance(values, Mapping):
            raise TypeError(f"values: expected a dict {{name: value}} or None; got {type(values).__name__}")
        if space is not None and not isinstance(space, Mapping):
            raise TypeError(f"space: expected a dict {{name: spec}} or None; got {type(space).__name__}")
        self.values: dict[str, Any] = dict(values or {})
        self.space: dict[str, Param] = dict(space or {})
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
        if name not in self.values:
            self.chosen[name] = spec.default
            return spec.resolve(spec.default)
        governing = self.space.get(name, spec)
        try:
            value = governing.validate(self.values[name])
        except ValueError as error:
            raise ValueError(f"hyper-parameter {name!r}: {error}") from error
        self.chosen[name] = value
        # a mapping resolves its key; a search space that only knows the keys (a resumed search's record) defers
        # to the mapping the code declares
        resolver = governing if isinstance(governing, DiscreteMapping) or not isinstance(spec, DiscreteMapping) else spec
        return resolver.resolve(value)

    def __repr__(self) -> str:
        return f"HyperParameters({self.chosen})"
