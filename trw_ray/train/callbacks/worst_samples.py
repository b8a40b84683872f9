"""``worst_samples_by_epoch/``: per-sample loss over the epochs (TRW's ``CallbackWorstSamplesByEpoch``).

For each split and output: a heatmap of the loss of every sample (x: samples sorted by their loss over all
epochs, y: epochs; red = high loss) with its table (Parquet: one row per sample, one column per epoch), and
the most difficult samples
as images with their loss, prediction and label. Samples that stay hard are often outliers or label errors.
"""

from __future__ import annotations

import numpy as np

from trw_ray import layout
from trw_ray.lazy_import import lazy_module
from trw_ray.train.callbacks.base import Callback, TrainerContext
from trw_ray.train.callbacks.batch_features import first_image_feature

pd = lazy_module("pandas")
plots = lazy_module("trw_ray.reports.plots")


class CallbackWorstSamplesByEpoch(Callback):
    """Records the per-sample losses every epoch and writes the report at the last epoch.

    Args:
        max_images: how many of the most difficult samples to show per split.
        splits: restrict to these split names (default: all).
        max_heatmap_columns: wider heatmaps average neighbouring samples (in loss order) into one column.
    """

    def __init__(self, max_images: int = 24, splits: list[str] | None = None, max_heatmap_columns: int = 2000,
                 strict: bool = False):
        super().__init__(strict=strict)
        self.max_heatmap_columns = max_heatmap_columns
        self.max_images = max_images
        self.splits = splits
        self.losses: dict[tuple[str, str, str], dict[int, pd.Series]] = {}

    def __call__(self, context: TrainerContext) -> None:
        for dataset, splits in (context.history[-1] if context.history else {}).items():
            for split in splits:
                if self.splits is not None and split not in self.splits:
                    continue
                for output_name, collected in context.outputs[dataset][split].items():
                    if isinstance(collected, dict) and "loss" in collected and "sample_uid" in collected:
                        series = pd.Series(np.asarray(collected["loss"], dtype=np.float32),
                                           index=np.asarray(collected["sample_uid"]))
                        self.losses.setdefault((dataset, split, output_name), {})[context.epoch] = series
        if context.is_last_epoch:
            self.write(context)

    def write(self, context: TrainerContext) -> None:
        folder = context.run_dir / layout.WORST_SAMPLES_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        for (dataset, split, output_name), by_epoch in self.losses.items():
            epochs = sorted(by_epoch)
            table = pd.concat([by_epoch[e].rename(f"epoch_{e}") for e in epochs], axis=1)  # rows: samples
            table = table.loc[table.mean(axis=1).sort_values(kind="stable").index]
            prefix = f"{output_name}-{dataset}-{split}"
            stored = table.reset_index(names="sample_uid")
            stored.to_parquet(folder / f"{prefix}-losses.parquet", index=False)
            matrix = table.to_numpy().T  # rows: epochs, columns: samples (hardest right)
            columns = matrix.shape[1]
            bins = -(-columns // self.max_heatmap_columns)
            if bins > 1:
                padded = np.full((matrix.shape[0], bins * -(-columns // bins)), np.nan)
                padded[:, :columns] = matrix
                matrix = np.nanmean(padded.reshape(matrix.shape[0], -1, bins), axis=2)
            plots.plot_heatmap(matrix, folder / f"{prefix}-heatmap.png",
                               title=f"{output_name} {dataset}/{split}: per-sample loss by epoch",
                               xlabel=f"{columns} samples sorted by overall loss (hardest right)"
                                      + (f", {bins} per pixel" if bins > 1 else ""),
                               ylabel="epoch", colorbar_label="loss", yticklabels=[str(e) for e in epochs])
            self._write_worst_images(context, dataset, split, output_name, table.T, folder / f"{prefix}-worst.png")

    def _write_worst_images(self, context, dataset, split, output_name, table, path) -> None:
        worst = list(table.columns[::-1][: self.max_images])
        samples = context.samples_by_uid(dataset, split, np.asarray(worst)) if worst else None
        image_name = first_image_feature(samples)
        if image_name is None:
            return
        collected = context.outputs[dataset][split][output_name]
        position = {int(uid): i for i, uid in enumerate(np.asarray(collected["sample_uid"]).tolist())}
        titles = []
        for uid in worst:
            title = f"uid {uid} loss {table[uid].mean():.2f}"
            index = position.get(int(uid))
            if index is not None and "output" in collected and "output_truth" in collected:
                title += f"\npred {collected['output'][index]} truth {collected['output_truth'][index]}"
            titles.append(title)
        plots.plot_image_grid([np.asarray(image) for image in samples[image_name]], titles, path,
                              title=f"{output_name} {dataset}/{split}: most difficult samples")
