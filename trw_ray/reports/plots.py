"""Matplotlib figures (Agg backend) written to PNG: curves, confusion matrices, ROC, heatmaps, image grids."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save_figure(figure, path: str | os.PathLike, margins: dict | None = None) -> Path:
    """Writes the figure atomically. Fixed ``margins`` (``subplots_adjust`` arguments) rather than a layout
    engine: a layout engine draws every figure twice, which doubles the cost of the reports."""
    path = Path(path)
    if margins:
        figure.subplots_adjust(**margins)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp.png")
    figure.savefig(temporary, dpi=90)
    plt.close(figure)
    os.replace(temporary, path)
    return path


def to_displayable_image(array: np.ndarray) -> np.ndarray | None:
    """(C, H, W) with C in 1/3/4, (H, W, C) or (H, W) -> an (H, W) or (H, W, 3) float image in [0, 1]; None if not an image."""
    image = np.asarray(array)
    if image.dtype.kind not in "biuf":
        return None
    if image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[1] > 4 and image.shape[2] > 4:
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if image.ndim == 2 and min(image.shape) > 4 or (image.ndim == 3 and image.shape[-1] == 3 and min(image.shape[:2]) > 4):
        image = image.astype(np.float64)
        low, high = float(np.min(image)), float(np.max(image))
        return (image - low) / (high - low) if high > low else np.zeros_like(image)
    return None


def save_image(array: np.ndarray, path: str | os.PathLike) -> Path | None:
    """Writes an image-like array as PNG (grayscale or RGB, scaled to its range); None when not image-like."""
    image = to_displayable_image(array)
    if image is None:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    return path


def _overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    rgb = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image
    colored = matplotlib.colormaps["jet"](np.clip(heat, 0, 1))[..., :3]
    return (1 - alpha) * rgb + alpha * colored


def plot_image_grid(images: Sequence[np.ndarray], titles: Sequence[str], path, title: str = "",
                    columns: int = 8, overlays: Sequence[np.ndarray | None] | None = None) -> Path:
    """A mosaic of images with a caption under each; ``overlays`` are [0, 1] heatmaps blended on top.

    Drawn with Pillow straight into one picture (tiles enlarged to about 144 pixels, nearest neighbour): no
    matplotlib figure, whose text layout made a grid of 24 captions cost ten times more.
    """
    from PIL import Image, ImageDraw, ImageFont

    tiles = [to_displayable_image(image) for image in images]
    tiles = [np.zeros((8, 8)) if tile is None else tile for tile in tiles]
    if overlays is not None:
        tiles = [tile if heat is None else _overlay(tile, heat) for tile, heat in zip(tiles, overlays, strict=False)]
    color = any(tile.ndim == 3 for tile in tiles)
    if color:
        tiles = [np.repeat(tile[..., None], 3, axis=-1) if tile.ndim == 2 else tile for tile in tiles]
    count = max(len(tiles), 1)
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    height = max((tile.shape[0] for tile in tiles), default=8)
    width = max((tile.shape[1] for tile in tiles), default=8)
    scale = max(1, round(144 / width))
    font = ImageFont.load_default(size=11)
    lines = max((str(t).count("\n") + 1 for t in titles), default=1)
    pad, line_height = 6, 13
    caption = lines * line_height + pad
    tile_height, tile_width = height * scale, width * scale
    row_height, column_width = tile_height + caption, tile_width + pad
    header = 24 if title else 0
    shape = (header + rows * row_height, columns * column_width, *((3,) if color else ()))
    mosaic = np.full(shape, 255, dtype=np.uint8)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        top, left = header + row * row_height, column * column_width + pad // 2
        enlarged = np.repeat(np.repeat(np.clip(tile, 0, 1), scale, axis=0), scale, axis=1)
        mosaic[top:top + enlarged.shape[0], left:left + enlarged.shape[1]] = np.round(enlarged * 255).astype(np.uint8)
    picture = Image.fromarray(mosaic, mode="RGB" if color else "L")
    draw = ImageDraw.Draw(picture)
    for index, text in enumerate(titles[: len(tiles)]):
        row, column = divmod(index, columns)
        draw.multiline_text((column * column_width + column_width / 2, header + row * row_height + tile_height + 2),
                            str(text), fill=0, font=font, anchor="ma", align="center", spacing=1)
    if title:
        draw.text((shape[1] / 2, 5), title, fill=0, font=ImageFont.load_default(size=14), anchor="ma")
    return _save_picture(picture, path)


def _draw_curves(axis, series, title: str, xlabel: str, ylabel: str) -> None:
    for label, (x, y) in series.items():
        axis.plot(list(x), list(y), marker="o", markersize=3, label=label)
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(True, alpha=0.3)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if series:
        axis.legend(fontsize=8)


def plot_curves(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], path, title: str,
                xlabel: str = "epoch", ylabel: str = "") -> Path:
    """One line per ``{label: (x, y)}``."""
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    _draw_curves(axis, series, title, xlabel, ylabel)
    return save_figure(figure, path, {"left": 0.13, "right": 0.97, "bottom": 0.12, "top": 0.92})


def plot_curve_panels(panels: Sequence[tuple[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]]], path,
                      xlabel: str = "epoch") -> Path:
    """Side-by-side panels ``[(title, {label: (x, y)}), ...]`` in one figure."""
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for axis, (title, series) in zip(axes[0], panels, strict=False):
        _draw_curves(axis, series, title, xlabel, title)
    return save_figure(figure, path, {"left": 0.06, "right": 0.98, "bottom": 0.12, "top": 0.92, "wspace": 0.3})


def _save_picture(picture, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp.png")
    picture.save(temporary, format="PNG", compress_level=3)
    os.replace(temporary, path)
    return path


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path, title: str) -> Path:
    """Confusion matrix with counts; rows are the truth, columns the prediction (the darker, the more samples).

    Drawn with Pillow: a cell's count is one short text, which matplotlib's layout made cost about 2 ms each.
    """
    from PIL import Image, ImageDraw, ImageFont

    matrix = np.asarray(matrix)
    classes = len(class_names)
    font, small = ImageFont.load_default(size=12), ImageFont.load_default(size=11)
    cell = 40 if classes <= 12 else max(12, 480 // max(classes, 1))
    labels = [str(name) for name in class_names]
    label_width = max((int(draw_width) for draw_width in (small.getlength(text) for text in labels)), default=0) + 8
    left, top = label_width + 26, 34
    bottom = label_width + 30
    size = (left + classes * cell + 12, top + classes * cell + bottom)
    picture = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(picture)
    draw.text((size[0] / 2, 8), title, fill="black", font=font, anchor="ma")
    scale = matrix.max() if matrix.size and matrix.max() > 0 else 1
    blues = matplotlib.colormaps["Blues"]
    for i in range(classes):
        for j in range(classes):
            red, green, blue, _ = (int(255 * c) for c in blues(float(matrix[i, j]) / scale))
            box = (left + j * cell, top + i * cell, left + (j + 1) * cell - 1, top + (i + 1) * cell - 1)
            draw.rectangle(box, fill=(red, green, blue))
            if classes <= 30:
                draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), str(int(matrix[i, j])), font=small,
                          anchor="mm", fill="white" if matrix[i, j] > scale / 2 else "black")
    for k, label in enumerate(labels):
        draw.text((left - 6, top + k * cell + cell / 2), label, fill="black", font=small, anchor="rm")
        text = Image.new("L", (label_width, 16), 255)
        ImageDraw.Draw(text).text((label_width - 2, 8), label, fill=0, font=small, anchor="rm")
        rotated = text.rotate(90, expand=True)
        picture.paste(Image.merge("RGB", [rotated] * 3), (int(left + k * cell + cell / 2 - 8), top + classes * cell + 4))
    draw.text((left + classes * cell / 2, size[1] - 16), "predicted", fill="black", font=font, anchor="ma")
    truth = Image.new("L", (90, 16), 255)
    ImageDraw.Draw(truth).text((45, 8), "truth", fill=0, font=font, anchor="mm")
    picture.paste(Image.merge("RGB", [truth.rotate(90, expand=True)] * 3), (2, int(top + classes * cell / 2 - 45)))
    return _save_picture(picture, path)


def plot_roc(false_positive_rate, true_positive_rate, auc: float, path, title: str) -> Path:
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(false_positive_rate, true_positive_rate, label=f"ROC (AUC = {auc:.4f})")
    axis.plot([0, 1], [0, 1], linestyle="--", color="gray", label="chance")
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_title(title)
    axis.legend(loc="lower right")
    return save_figure(figure, path, {"left": 0.14, "right": 0.96, "bottom": 0.11, "top": 0.93})


def plot_heatmap(matrix: np.ndarray, path, title: str, xlabel: str, ylabel: str, colorbar_label: str = "",
                 cmap: str = "YlOrRd", yticklabels: Sequence[str] | None = None) -> Path:
    figure, axis = plt.subplots(figsize=(9, max(2.5, 0.35 * matrix.shape[0] + 1.5)))
    shown = axis.imshow(matrix, aspect="auto", interpolation="nearest", cmap=cmap)
    colorbar = figure.colorbar(shown, ax=axis)
    colorbar.set_label(colorbar_label)
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    if yticklabels is not None:
        axis.set_yticks(np.arange(len(yticklabels)), labels=yticklabels)
    height = figure.get_figheight()
    return save_figure(figure, path, {"left": 0.09, "right": 1.0, "bottom": min(0.45, 0.75 / height),
                                "top": 1 - min(0.3, 0.45 / height)})


def plot_bars(names: Sequence[str], values: Sequence[float], path, title: str, xlabel: str,
              errors: Sequence[float] | Sequence[Sequence[float]] | None = None) -> Path:
    """Horizontal bars; ``errors``: one length per bar (symmetric) or two lists (below, above) as matplotlib's
    ``xerr``."""
    figure, axis = plt.subplots(figsize=(6.4, max(2.5, 0.4 * len(names) + 1)))
    positions = np.arange(len(names))
    axis.barh(positions, values, xerr=errors, color="tab:blue", alpha=0.8)
    axis.set_yticks(positions, labels=names)
    axis.invert_yaxis()
    axis.set_xlabel(xlabel)
    axis.set_title(title)
    return save_figure(figure, path, {"left": 0.3, "right": 0.97, "bottom": 0.12, "top": 0.92})


def plot_metric_against_parameters(panels: Sequence[dict], path, metric: str, title: str = "") -> Path:
    """One scatter panel per hyper-parameter: the metric of each trial against the parameter's value.

    Each panel is ``{'name', 'x', 'y', 'log': bool, 'categories': list | None, 'best': index or None}``;
    categorical values are drawn at their category's position with a little jitter.
    """
    columns = min(3, max(1, len(panels)))
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.4 * rows), squeeze=False)
    jitter = np.random.default_rng(0)
    for axis, panel in zip(axes.flat, panels, strict=False):
        y = np.asarray(panel["y"], dtype=float)
        categories = panel.get("categories")
        if categories:
            x = np.array([categories.index(v) if v in categories else -1 for v in panel["x"]], dtype=float)
            x = x + jitter.uniform(-0.12, 0.12, size=len(x))
            axis.set_xticks(range(len(categories)), labels=[str(c) for c in categories], rotation=30, fontsize=8)
        else:
            x = np.asarray(panel["x"], dtype=float)
            if panel.get("log"):
                axis.set_xscale("log")
        axis.scatter(x, y, s=18, alpha=0.75, color="tab:blue")
        best = panel.get("best")
        if best is not None and 0 <= best < len(x):
            axis.scatter([x[best]], [y[best]], s=60, color="tab:red", marker="*", label="best", zorder=3)
            axis.legend(fontsize=7)
        axis.set_xlabel(panel["name"])
        axis.set_ylabel(metric)
        axis.grid(True, alpha=0.3)
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    if title:
        figure.suptitle(title, fontsize=10)
    return save_figure(figure, path, {"left": 0.08, "right": 0.98, "bottom": 0.14, "top": 0.9, "wspace": 0.35,
                                "hspace": 0.55})


def _log_y_axis(axis) -> None:
    """A log y axis whose tick labels read as plain numbers (2.28, 0.05), never ``2.28x10^0``: a narrow range has
    only minor ticks, which matplotlib labels in scientific notation."""
    axis.set_yscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:.3g}")
    axis.yaxis.set_major_formatter(plain)
    axis.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(
        lambda value, _: f"{value:.3g}" if _few_ticks(axis) else ""))


def _few_ticks(axis) -> bool:
    low, high = axis.get_ylim()
    return low > 0 and high / low < 20  # within about one decade the minor ticks are the only labels


def plot_learning_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], path, title: str,
                         ylabel: str, highlight: str | None = None, log_y: bool = False) -> Path:
    """Many learning curves on one axis (no legend beyond the highlighted one)."""
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for label, (x, y) in curves.items():
        if label == highlight:
            continue
        axis.plot(list(x), list(y), color="tab:blue", alpha=0.35, linewidth=1, marker="o", markersize=2)
    if highlight in curves:
        x, y = curves[highlight]
        axis.plot(list(x), list(y), color="tab:red", linewidth=2, marker="o", markersize=3, label=f"best: {highlight}")
        axis.legend(fontsize=8)
    if log_y:
        _log_y_axis(axis)
    axis.set_title(title)
    axis.set_xlabel("epoch (reported iteration)")
    axis.set_ylabel(ylabel)
    axis.grid(True, alpha=0.3)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    return save_figure(figure, path, {"left": 0.13, "right": 0.97, "bottom": 0.12, "top": 0.92})


def plot_anytime(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], path, title: str, xlabel: str,
                 ylabel: str, log_y: bool = False) -> Path:
    """Best-so-far curves as steps, one per ``{label: (x, best)}`` (NaN before a curve's first value)."""
    figure, axis = plt.subplots(figsize=(8.0, 4.6))
    for label, (x, y) in series.items():
        axis.step(list(x), list(y), where="post", linewidth=1.8, label=label)
    if log_y:
        _log_y_axis(axis)
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(True, alpha=0.3)
    if series:
        axis.legend(fontsize=8)
    return save_figure(figure, path, {"left": 0.1, "right": 0.98, "bottom": 0.12, "top": 0.92})
