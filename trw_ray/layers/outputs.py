"""Output nodes: they turn a node's tensor into the Trainer's outputs (``trw_ray.outputs``)."""

from __future__ import annotations

from trw_ray import outputs as train_outputs
from trw_ray.layers.node import Node


class OutputNode(Node):
    """The base of the output layers: names the model output a node becomes."""
    def __init__(self, node: Node, output_name: str, args: dict):
        super().__init__([node], {"output_name": output_name, **args})
        if not isinstance(output_name, str) or not output_name:
            raise ValueError(f"{self.label}: output_name must be a non-empty str; got {output_name!r}")
        self.output_name = output_name
        self.shape = list(node.shape)


class OutputClassification(OutputNode):
    """Classification output named ``output_name`` whose targets are the batch feature ``classes_name``."""

    def __init__(self, node: Node, output_name: str, classes_name: str):
        super().__init__(node, output_name, {"classes_name": classes_name})
        if len(node.shape) != 2:
            raise ValueError(f"{self.label}: input shape {node.shape} does not fit; a classification output "
                             f"needs logits [None, classes] (add Flatten and Linear before it)")

    def forward(self, module, inputs, batch):
        return train_outputs.OutputClassification(inputs[0], self.args["classes_name"])


class OutputRegression(OutputNode):
    """Regression output named ``output_name`` against the batch feature ``target_name``."""

    def __init__(self, node: Node, output_name: str, target_name: str, loss: str = "mse"):
        super().__init__(node, output_name, {"target_name": target_name, "loss": loss})
        if loss not in ("mse", "l1"):
            raise ValueError(f"{self.label}: loss must be 'mse' or 'l1'; got {loss!r}")

    def forward(self, module, inputs, batch):
        return train_outputs.OutputRegression(inputs[0], self.args["target_name"], loss=self.args["loss"])


class OutputEmbedding(OutputNode):
    """A tensor collected under ``output_name`` (no loss), e.g. for the embedding projector."""

    def __init__(self, node: Node, output_name: str):
        super().__init__(node, output_name, {})

    def forward(self, module, inputs, batch):
        return train_outputs.OutputEmbedding(inputs[0])
