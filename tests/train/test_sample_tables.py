"""Per-sample tables: one Parquet table per split and epoch, equal to what the Trainer collected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch.nn as nn
from conftest import make_blobs

import trw_ray as trw
from trw_ray import layout
from trw_ray.train import OutputClassification, OutputRegression, SequenceArray


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.regression = nn.Linear(4, 2)

    def forward(self, batch):
        return {"cls": OutputClassification(self.fc(batch["x"]), "y"),
                "reg": OutputRegression(self.regression(batch["x"]), "target")}


def data(n, seed):
    blobs = make_blobs(n, seed=seed)
    blobs["target"] = np.stack([blobs["x"][:, 0], blobs["x"][:, 1] * 2], axis=1).astype(np.float32)
    blobs["sample_uid"] = np.arange(1000 * seed, 1000 * seed + n)
    return blobs


def fit(per_epoch, num_epochs=2):
    options = trw.train.create_default_options(num_epochs=num_epochs, device="cpu", progress_bar=False, seed=0)
    options["workflow_options"]["console_log"] = False
    return trw.train.Trainer(callbacks_per_epoch_fn=lambda: per_epoch, callbacks_post_training_fn=list).fit(
        options, inputs_fn=lambda: {"blobs": {"train": SequenceArray(data(100, 0), batch_size=25, seed=0),
                                              "valid": SequenceArray(data(40, 1), batch_size=25, shuffle=False)}},
        model_fn=lambda o: TwoHeads(),
        optimizers_fn=lambda d, m: trw.train.create_sgd_optimizers_fn(d, m, learning_rate=0.05))


def test_every_split_and_epoch_gets_a_table_equal_to_the_collected_values():
    _, results = fit([trw.train.CallbackSampleTables()])
    files = layout.samples_files(results["run_dir"])
    assert [(d, s, o, e) for d, s, o, e, _ in files] == [
        ("blobs", s, o, e) for s in ("train", "valid") for o in ("cls", "reg") for e in (1, 2)]
    table = pd.read_parquet(layout.samples_file(results["run_dir"], "blobs", "valid", "cls", 2))
    assert len(table) == 40 and set(table["output"]) == {"cls"} and set(table["epoch"]) == {2}
    cls = table.set_index("sample_uid")
    collected = results["outputs"]["blobs"]["valid"]["cls"]
    order = collected["sample_uid"]
    assert sorted(cls.index) == list(range(1000, 1040))
    np.testing.assert_allclose(cls.loc[order, "loss"], collected["loss"], rtol=1e-6)
    np.testing.assert_array_equal(cls.loc[order, "prediction"], collected["output"])
    np.testing.assert_array_equal(cls.loc[order, "truth"], collected["output_truth"])
    probabilities = np.stack(cls.loc[order, "probabilities"].to_numpy())
    np.testing.assert_allclose(probabilities, collected["output_raw"], rtol=1e-6)
    rows = np.arange(len(order))
    np.testing.assert_allclose(cls.loc[order, "probability_truth"], collected["output_raw"][rows, collected["output_truth"]],
                               rtol=1e-6)
    np.testing.assert_allclose(cls.loc[order, "probability_prediction"], probabilities.max(axis=1), rtol=1e-6)
    reg = pd.read_parquet(layout.samples_file(results["run_dir"], "blobs", "valid", "reg", 2)).set_index("sample_uid")
    reg = reg.loc[order]
    np.testing.assert_allclose(np.stack(reg["prediction"].to_numpy()), results["outputs"]["blobs"]["valid"]["reg"]["output"],
                               rtol=1e-6)
    np.testing.assert_allclose(np.stack(reg["truth"].to_numpy()), data(40, 1)["target"][order - 1000], rtol=1e-6)
    assert "probability_truth" not in reg
    train = pd.read_parquet(layout.samples_file(results["run_dir"], "blobs", "train", "cls", 1))
    assert sorted(set(train["sample_uid"])) == list(range(100))  # the train split as it was seen


def test_tables_respect_max_classes_and_splits_and_check_their_arguments():
    _, results = fit([trw.train.CallbackSampleTables(max_classes=2, splits=["valid"])], num_epochs=1)
    files = layout.samples_files(results["run_dir"])
    assert [(s, o, e) for _, s, o, e, _ in files] == [("valid", "cls", 1), ("valid", "reg", 1)]
    table = pd.read_parquet(files[0][4])
    assert "probabilities" not in table and table["probability_truth"].notna().sum() == 40
    with pytest.raises(ValueError, match="max_classes: expected an integer >= 0; got -1"):
        trw.train.CallbackSampleTables(max_classes=-1)
    with pytest.raises(TypeError, match="splits: expected None or a list of split names; got 'valid'"):
        trw.train.CallbackSampleTables(splits="valid")


def test_default_callbacks_write_the_tables():
    _, results = fit(trw.train.callbacks.default_per_epoch_callbacks(), num_epochs=1)
    assert {s for _, s, _, _, _ in layout.samples_files(results["run_dir"])} == {"train", "valid"}
