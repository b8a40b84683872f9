"""The Output classes, under the name TRW's documentation uses (``trw.train.OutputClassification``...).

They live in :mod:`trw_ray.outputs`, which both the Trainer and the simple layers import (the layers need no
Trainer); this module is that one under its older name.
"""

from __future__ import annotations

from trw_ray.outputs import (
    CriterionFn,
    Output,
    OutputClassification,
    OutputEmbedding,
    OutputEvaluation,
    OutputRegression,
    OutputSegmentation,
    dice_loss_per_sample,
    get_batch_feature,
)

__all__ = ["CriterionFn", "Output", "OutputClassification", "OutputEmbedding", "OutputEvaluation", "OutputRegression",
           "OutputSegmentation", "dice_loss_per_sample", "get_batch_feature"]
