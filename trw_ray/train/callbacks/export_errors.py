"""``errors/<dataset>/``: the misclassified samples of each split (CSV of all, images of the most confident)."""

from __future__ import annotations

import numpy as np

from trw_ray import layout
from trw_ray.lazy_import import lazy_module
from trw_ray.train.callbacks.base import Callback, TrainerContext
from trw_ray.train.callbacks.batch_features import first_image_feature
from trw_ray.train.callbacks.classification_report import classification_outputs

pd = lazy_module("pandas")
plots = lazy_module("trw_ray.reports.plots")


class CallbackExportErrors(Callback):
    def __init__(self, max_images: int = 24, strict: bool = False):
        super().__init__(strict=strict)
        self.max_images = max_images

    def __call__(self, context: TrainerContext) -> None:
        for dataset, split, output_name, collected in classification_outputs(context):
            wrong = np.flatnonzero(collected["output"] != collected["output_truth"])
            probabilities = collected.get("output_raw")
            names = context.class_names(dataset, split, output_name)
            prediction, truth = collected["output"][wrong], collected["output_truth"][wrong]
            table = pd.DataFrame({"sample_uid": collected["sample_uid"][wrong], "prediction": prediction, "truth": truth})
            if probabilities is not None:
                table["probability_prediction"] = probabilities[wrong, prediction]
                table["probability_truth"] = probabilities[wrong, truth]
                table = table.sort_values("probability_prediction", ascending=False)
            if names:
                table["prediction_name"] = [names[i] if i < len(names) else str(i) for i in table["prediction"]]
                table["truth_name"] = [names[i] if i < len(names) else str(i) for i in table["truth"]]
            folder = context.run_dir / layout.ERRORS_FOLDER / dataset
            folder.mkdir(parents=True, exist_ok=True)
            table.to_csv(folder / f"{output_name}-{split}-errors.csv", index=False)
            shown = table.head(self.max_images)
            samples = context.samples_by_uid(dataset, split, shown["sample_uid"].to_numpy()) if len(shown) else None
            image_name = first_image_feature(samples) if samples else None
            if image_name is None:
                continue
            titles = [f"uid {row.sample_uid}\npred {row.prediction} truth {row.truth}"
                      + (f"\np={row.probability_prediction:.2f}" if "probability_prediction" in table else "")
                      for row in shown.itertuples()]
            images = [np.asarray(image) for image in samples[image_name]]
            plots.plot_image_grid(images, titles, folder / f"{output_name}-{split}-errors.png",
                                  title=f"{output_name} {dataset}/{split}: {len(table)} errors (most confident first)")
