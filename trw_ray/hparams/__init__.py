"""Hyper-parameters: parameter specs and define-by-run ``HyperParameters`` (search on Ray Tune builds on them)."""

from __future__ import annotations

from trw_ray.hparams.hyperparameters import HyperParameters
from trw_ray.hparams.params import (
    ContinuousPower,
    ContinuousUniform,
    DiscreteBoolean,
    DiscreteInteger,
    DiscreteIntegrer,
    DiscreteMapping,
    DiscreteValue,
    Param,
)

__all__ = [
    "ContinuousPower", "ContinuousUniform", "DiscreteBoolean", "DiscreteInteger", "DiscreteIntegrer",
    "DiscreteMapping", "DiscreteValue", "HyperParameters", "Param",
]
