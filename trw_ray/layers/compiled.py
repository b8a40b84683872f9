"""``compile_nn``: turns output nodes into a ``torch.nn.Module`` whose ``forward(batch)`` returns the outputs.

The module runs only the nodes the outputs need, each once (shared sub-graphs included), in an order fixed at
compile time, and drops every intermediate tensor as soon as no later node reads it. Its graph description
(JSON) is saved with its weights, so :func:`load` rebuilds a trained network from its ``.model`` file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import torch

from trw_ray.layers.inputs import Input
from trw_ray.layers.node import Node
from trw_ray.layers.outputs import OutputNode

DESCRIPTION_FORMAT = "trw_ray.layers/1"


def _topological_order(outputs: Sequence[Node]) -> list[Node]:
    order: list[Node] = []
    state: dict[int, str] = {}
    for root in outputs:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            key = id(node)
            if expanded:
                state[key] = "done"
                order.append(node)
                continue
            if state.get(key) == "done":
                continue
            if state.get(key) == "open":
                continue
            state[key] = "open"
            stack.append((node, True))
            for parent in reversed(node.parents):
                if state.get(id(parent)) != "done":
                    stack.append((parent, False))
    return order


class CompiledNet(torch.nn.Module):
    """The module built by :func:`compile_nn`."""

    def __init__(self, output_nodes: Sequence[Node]):
        super().__init__()
        if isinstance(output_nodes, Node):
            output_nodes = [output_nodes]
        if not isinstance(output_nodes, Sequence) or not output_nodes:
            raise ValueError(f"output_nodes: expected a non-empty list of nodes; got {output_nodes!r}")
        for node in output_nodes:
            if not isinstance(node, Node):
                raise TypeError(f"output_nodes: expected simple-layer nodes; got {type(node).__name__}")
        names = [node.output_name if isinstance(node, OutputNode) else None for node in output_nodes]
        named = [n for n in names if n is not None]
        if len(named) != len(set(named)):
            raise ValueError(f"output_nodes: output names must be unique; got {named}")
        self.nodes = _topological_order(output_nodes)
        self.output_indices = [self.nodes.index(node) for node in output_nodes]
        index_of = {id(node): i for i, node in enumerate(self.nodes)}
        self.layers = torch.nn.ModuleDict()
        plan = []
        last_use: dict[int, int] = {}
        for step, node in enumerate(self.nodes):
            module = node.create_module()
            key = None
            if module is not None:
                key = f"{step}_{type(node).__name__.lower()}"
                self.layers[key] = module
            parents = [index_of[id(parent)] for parent in node.parents]
            for parent in parents:
                last_use[parent] = step
            plan.append((step, key, parents))
        kept = set(self.output_indices)
        frees: list[list[int]] = [[] for _ in self.nodes]
        for index, step in last_use.items():
            if index not in kept:
                frees[step].append(index)
        self._plan = [(step, key, parents, frees[step]) for step, key, parents in plan]
        self._output_names = [name if name is not None else f"output_{i}" for i, name in enumerate(names)]

    @property
    def input_features(self) -> dict[str, list]:
        """``{feature_name: declared shape}`` of the batch features the network reads."""
        return {node.feature_name: node.shape for node in self.nodes if isinstance(node, Input)}

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        values: dict[int, Any] = {}
        for step, key, parents, frees in self._plan:
            module = self.layers[key] if key is not None else None
            values[step] = self.nodes[step].forward(module, [values[p] for p in parents], batch)
            for index in frees:
                del values[index]
        return {name: values[index] for name, index in zip(self._output_names, self.output_indices, strict=False)}

    def describe(self) -> dict[str, Any]:
        """The JSON-serializable graph: node types, constructor arguments and parents, in execution order."""
        index_of = {id(node): i for i, node in enumerate(self.nodes)}
        return {
            "format": DESCRIPTION_FORMAT,
            "nodes": [{"type": type(node).__name__, "args": node.args,
                       "parents": [index_of[id(p)] for p in node.parents]} for node in self.nodes],
            "outputs": list(self.output_indices),
        }

    def extra_repr(self) -> str:
        return "\n".join(f"({i}) {type(node).__name__} -> {node.shape}" for i, node in enumerate(self.nodes))


def compile_nn(output_nodes: Sequence[Node]) -> CompiledNet:
    """Builds the network computing ``output_nodes`` (e.g. ``[OutputClassification(...)]``).

    Examples:
        >>> n = Input([None, 1, 28, 28], 'images')
        >>> n = Flatten(Conv2d(n, out_channels=8, kernel_size=5))
        >>> net = compile_nn([OutputClassification(Linear(n, 10), output_name='softmax', classes_name='targets')])
    """
    return CompiledNet(output_nodes)


def load_description(description: dict[str, Any]) -> CompiledNet:
    """Rebuilds a (freshly initialized) network from :meth:`CompiledNet.describe`'s output."""
    if not isinstance(description, dict) or description.get("format") != DESCRIPTION_FORMAT:
        raise ValueError(f"description: expected a {DESCRIPTION_FORMAT!r} graph; got {str(description)[:100]!r}")
    nodes: list[Node] = []
    for entry in description["nodes"]:
        node_class = Node.registry.get(entry["type"])
        if node_class is None:
            raise ValueError(f"description: unknown node type {entry['type']!r}; known: {sorted(Node.registry)}")
        nodes.append(node_class.from_description([nodes[p] for p in entry["parents"]], dict(entry["args"])))
    return CompiledNet([nodes[i] for i in description["outputs"]])


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> CompiledNet:
    """Rebuilds a compiled network and its weights from a ``.model`` file (e.g. a run's ``last.model``)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "metadata" not in payload:
        raise ValueError(f"path: {os.fspath(path)!r} is not a trw_ray model file")
    description = json.loads(payload["metadata"]).get("model_description")
    if description is None:
        raise ValueError(f"path: {os.fspath(path)!r} holds a model that is not a compiled simple-layers network")
    net = load_description(description)
    net.load_state_dict(payload["state_dict"])
    return net.to(device)
