"""Architecture-search figures, from plain data: architecture weights per edge over epochs, a cell as a graph.

Called by :class:`trw_ray.nas.records.CallbackArchitecture` with arrays and edge lists (this module does not import
``trw_ray.nas``).
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trw_ray.reports.plots import plt, save_figure


def plot_architecture_weights(weights: np.ndarray, ops: Sequence[str], edge_names: Sequence[str],
                              path: str | os.PathLike, title: str = "architecture weights") -> Path:
    """One heatmap per edge (ops x epochs) of ``weights`` shaped (epochs, edges, ops)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 3 or weights.shape[1] != len(edge_names) or weights.shape[2] != len(ops):
        raise ValueError(f"weights: expected (epochs, {len(edge_names)} edges, {len(ops)} ops); got {weights.shape}")
    epochs, edges = weights.shape[0], weights.shape[1]
    top = max(float(weights.max()), 1e-6)  # the weights' own range: near-uniform weights still show their drift
    columns = min(edges, 7 if edges > 6 else 3)
    rows = math.ceil(edges / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.4 * columns + 1.6, 1.9 * rows + 0.6), squeeze=False)
    image = None
    for index in range(rows * columns):
        axis = axes[index // columns][index % columns]
        if index >= edges:
            axis.axis("off")
            continue
        image = axis.imshow(weights[:, index, :].T, aspect="auto", cmap="viridis", vmin=0, vmax=top,
                            extent=(0.5, epochs + 0.5, len(ops) - 0.5, -0.5), interpolation="nearest")
        axis.set_title(edge_names[index], fontsize=8)
        axis.set_yticks(range(len(ops)))
        axis.set_yticklabels(ops if index % columns == 0 else [], fontsize=7)
        axis.tick_params(axis="x", labelsize=7)
        if index // columns == rows - 1:
            axis.set_xlabel("epoch", fontsize=7)
    figure.suptitle(title, fontsize=10)
    if image is not None:
        figure.colorbar(image, cax=figure.add_axes((0.9, 0.15, 0.015, 0.68)))
    return save_figure(figure, path, {"left": 0.14, "right": 0.87, "top": 0.86, "bottom": 0.12, "wspace": 0.15,
                                "hspace": 0.55})


def plot_cell(edges: Sequence[tuple[int, int, str]], num_inputs: int, path: str | os.PathLike,
              output_nodes: Sequence[int] | None = None, title: str = "cell", subtitle: str = "") -> Path:
    """A cell as a graph: nodes left to right, an arrow per ``(input, node, op)`` labelled with its op (``none``
    edges left out); ``output_nodes`` are joined into an output node (DARTS' concatenation)."""
    edges = [(int(source), int(node), str(op)) for source, node, op in edges if op != "none"]
    nodes = sorted({0, *range(num_inputs), *[n for _, n, _ in edges], *[s for s, _, _ in edges],
                    *(output_nodes or [])})
    positions = {node: (float(index), 0.35 * (-1) ** index if index else 0.0) for index, node in enumerate(nodes)}
    figure, axis = plt.subplots(figsize=(1.6 * len(nodes) + 2, 3.2))
    colors = {}
    palette = plt.get_cmap("tab10")
    for number, (source, node, op) in enumerate(edges):
        colors.setdefault(op, palette(len(colors) % 10))
        start, end = positions[source], positions[node]
        bend = 0.25 + 0.12 * (number % 3) if node - source > 1 else 0.0
        axis.annotate("", xy=end, xytext=start, arrowprops={
            "arrowstyle": "-|>", "color": colors[op], "lw": 1.6, "shrinkA": 14, "shrinkB": 14,
            "connectionstyle": f"arc3,rad={bend:.2f}"})
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + bend * (end[0] - start[0]) * 0.45)
        axis.text(*middle, op, fontsize=7, ha="center", va="center", color=colors[op],
                  bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    if output_nodes:
        out = (len(nodes) + 0.0, 0.0)
        for node in output_nodes:
            axis.annotate("", xy=out, xytext=positions[node],
                          arrowprops={"arrowstyle": "-|>", "color": "#999", "lw": 0.8, "shrinkA": 14, "shrinkB": 14})
        axis.add_patch(plt.Circle(out, 0.18, color="#ddd"))
        axis.text(*out, "out", ha="center", va="center", fontsize=8)
    for node, (x, y) in positions.items():
        axis.add_patch(plt.Circle((x, y), 0.18, color="#cfe3f7" if node < num_inputs else "#f7e3cf"))
        axis.text(x, y, f"in {node}" if node < num_inputs else str(node), ha="center", va="center", fontsize=8)
    axis.set_xlim(-0.6, len(nodes) + (0.6 if output_nodes else -0.4))
    axis.set_ylim(-1.2, 1.2)
    axis.set_aspect("equal")
    axis.axis("off")
    axis.set_title(title, fontsize=10)
    if subtitle:
        figure.text(0.5, 0.02, textwrap.fill(subtitle, 150), ha="center", va="bottom", fontsize=6, color="#555")
    return save_figure(figure, path, {"left": 0.02, "right": 0.98, "top": 0.9, "bottom": 0.1})


def plot_search_progress(values: Sequence[float], path: str | os.PathLike, higher_is_better: bool = True,
                         ylabel: str = "metric", title: str = "architecture search") -> Path:
    """Best-so-far and running median of the candidates' metric against evaluations (in the order they started)."""
    values = np.asarray(values, dtype=np.float64)
    steps = np.arange(1, len(values) + 1)
    best = np.maximum.accumulate(values) if higher_is_better else np.minimum.accumulate(values)
    median = np.array([np.median(values[:i]) for i in steps])
    figure, axis = plt.subplots(figsize=(6.4, 3.6))
    axis.plot(steps, values, ".", color="#bbb", label="candidate")
    axis.plot(steps, best, "-", color="#1f77b4", label="best so far")
    axis.plot(steps, median, "--", color="#ff7f0e", label="median so far")
    axis.set_xlabel("evaluations")
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return save_figure(figure, path, {"left": 0.13, "right": 0.97, "top": 0.9, "bottom": 0.15})


def pareto_front(sizes: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats on both size (smaller) and score (larger), by increasing size."""
    order = sorted(range(len(sizes)), key=lambda i: (sizes[i], -scores[i]))
    front, best = [], -math.inf
    for index in order:
        if scores[index] > best:
            front.append(index)
            best = scores[index]
    return front


def plot_pareto(sizes: Sequence[float], scores: Sequence[float], path: str | os.PathLike, xlabel: str = "parameters",
                ylabel: str = "accuracy", title: str = "accuracy / size") -> Path:
    """Every candidate and the Pareto front (larger score, smaller size)."""
    sizes, scores = np.asarray(sizes, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    front = pareto_front(list(sizes), list(scores))
    figure, axis = plt.subplots(figsize=(6.4, 3.8))
    axis.scatter(sizes, scores, s=14, color="#999", label="candidates")
    axis.plot(sizes[front], scores[front], "o-", color="#d62728", markersize=5, label="Pareto front")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return save_figure(figure, path, {"left": 0.13, "right": 0.97, "top": 0.9, "bottom": 0.14})
