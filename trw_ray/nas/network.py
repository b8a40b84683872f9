"""A genotype's network: :func:`build_network` turns a derived (or hand-written) cell into a trainable model.

Same ops and skeleton as the supernet (:mod:`trw_ray.nas.macro`), one op per edge, learned batch-norm affines. The
network describes itself, so a run's ``last.model`` reloads without code (``trw_ray.train.load_model(path)``), and
the Trainer exports it to ONNX like any model.

Examples:
    >>> net = build_network('|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|',
    ...                     width=16, depth=5)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from trw_ray.nas.cells import DartsCell, NB201Cell
from trw_ray.nas.genotypes import Genotype, parse_genotype
from trw_ray.nas.macro import DESCRIPTION_FORMAT, MacroNetwork

__all__ = ["Network", "build_network", "from_description"]


class Network(MacroNetwork):
    """The discrete network of ``genotype`` (see :class:`~trw_ray.nas.macro.MacroNetwork` for the other arguments)."""

    def __init__(self, genotype: Genotype | str, num_classes: int = 10, in_channels: int = 1, width: int = 16,
                 depth: int = 5, input_name: str = "images", target_name: str = "targets",
                 output_name: str = "softmax"):
        parsed = parse_genotype(genotype)
        self._genotype = parsed
        super().__init__(parsed.space, num_classes, in_channels, width, depth, input_name, target_name, output_name)
        self.config["genotype"] = str(parsed)

    @property
    def genotype(self) -> Genotype:
        return self._genotype

    def make_nb201_cell(self, channels: int) -> nn.Module:
        return NB201Cell(channels, self._genotype.ops, self.space)

    def make_darts_cell(self, c_prev_prev, c_prev, channels, reduction, reduction_prev) -> nn.Module:
        pairs = self._genotype.reduce if reduction else self._genotype.normal
        return DartsCell(c_prev_prev, c_prev, channels, reduction, reduction_prev, pairs, self.space)


def build_network(genotype: Genotype | str, num_classes: int = 10, in_channels: int = 1, width: int = 16,
                  depth: int = 5, **names: str) -> Network:
    """The network of ``genotype`` (a genotype or its string; NB-201's or DARTS' form).

    Args:
        width, depth: as the supernet's (:class:`~trw_ray.nas.macro.MacroNetwork`); a search usually derives the
            cell with a small supernet and retrains it wider or deeper.
        names: ``input_name``, ``target_name``, ``output_name``.

    Raises:
        ValueError: the genotype does not parse or names an op outside its space (the message says where).
    """
    unknown = sorted(set(names) - {"input_name", "target_name", "output_name"})
    if unknown:
        raise TypeError(f"build_network: unknown arguments {unknown}")
    return Network(genotype, num_classes, in_channels, width, depth, **names)


def from_description(description: Mapping[str, Any]) -> nn.Module:
    """Rebuilds a network or a supernet from its :meth:`~trw_ray.nas.macro.MacroNetwork.describe` (untrained)."""
    if not isinstance(description, Mapping) or description.get("format") != DESCRIPTION_FORMAT:
        raise ValueError(f"description: expected a {DESCRIPTION_FORMAT!r} description; got {description!r:.200}")
    config = dict(description.get("config") or {})
    if description.get("kind") == "supernet":
        from trw_ray.nas.supernet import Supernet

        return Supernet(**config)
    config.pop("space", None)
    return Network(**config)
