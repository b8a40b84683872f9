import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trw_ray.train import OutputClassification, OutputEmbedding, OutputRegression, OutputSegmentation


def test_classification_loss_and_collection():
    logits = torch.randn(6, 4, requires_grad=True)
    batch = {"targets": torch.tensor([0, 1, 2, 3, 0, 1])}
    evaluation = OutputClassification(logits, "targets").evaluate(batch, "softmax")
    assert torch.allclose(evaluation.loss, F.cross_entropy(logits, batch["targets"]))
    evaluation.loss.backward()
    assert logits.grad is not None
    collected = {key: value.numpy() for key, value in evaluation.collect.items()}
    collected = OutputClassification.finalize(collected)
    assert np.array_equal(collected["output"], logits.argmax(1).numpy())
    assert np.allclose(collected["output_raw"].sum(1), 1)
    metrics = OutputClassification.metrics(collected)
    assert metrics["accuracy"] == pytest.approx(np.mean(collected["output"] == batch["targets"].numpy()))
    assert metrics["loss"] == pytest.approx(evaluation.loss.item(), rel=1e-5)


def test_classification_weights():
    logits = torch.randn(4, 3)
    batch = {"t": torch.tensor([0, 1, 2, 0]), "w": torch.tensor([1.0, 0.0, 0.0, 1.0])}
    evaluation = OutputClassification(logits, "t", weights="w").evaluate(batch, "o")
    per_sample = F.cross_entropy(logits, batch["t"], reduction="none")
    assert torch.allclose(evaluation.loss, (per_sample * batch["w"]).mean())


def test_missing_target_names_key_and_keys_present():
    with pytest.raises(KeyError, match=r"'targets'.*features present: \['images', 'labels'\]"):
        OutputClassification(torch.randn(2, 3), "targets").evaluate({"images": 0, "labels": 1}, "softmax")


def test_target_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 2\] for 3 classes; got values from 3 to 5"):
        OutputClassification(torch.randn(3, 3), "t").evaluate({"t": torch.tensor([0, 3, 5])}, "softmax")
    with pytest.raises(ValueError, match="from -1"):
        OutputClassification(torch.randn(2, 3), "t").evaluate({"t": torch.tensor([-1, 0])}, "softmax")


def test_classification_shape_and_type_errors():
    with pytest.raises(ValueError, match="OutputSegmentation"):
        OutputClassification(torch.randn(2, 3, 4, 4), "t")
    with pytest.raises(TypeError, match="torch.Tensor"):
        OutputClassification(np.zeros((2, 3)), "t")
    with pytest.raises(TypeError, match="integer class indices"):
        OutputClassification(torch.randn(2, 3), "t").evaluate({"t": torch.tensor([0.0, 1.0])}, "o")


@pytest.mark.parametrize("loss, reference", [("mse", F.mse_loss), ("l1", F.l1_loss)])
def test_regression(loss, reference):
    prediction, target = torch.randn(5, 2), torch.randn(5, 2)
    evaluation = OutputRegression(prediction, "y", loss=loss).evaluate({"y": target}, "reg")
    assert torch.allclose(evaluation.loss, reference(prediction, target))
    collected = {k: v.numpy() for k, v in evaluation.collect.items()}
    metrics = OutputRegression.metrics(collected)
    assert metrics["mse"] == pytest.approx(F.mse_loss(prediction, target).item(), rel=1e-5)
    assert metrics["mae"] == pytest.approx(F.l1_loss(prediction, target).item(), rel=1e-5)
    with pytest.raises(ValueError, match="loss must be one of"):
        OutputRegression(prediction, "y", loss="huber")
    with pytest.raises(ValueError, match="shape"):
        OutputRegression(prediction, "y").evaluate({"y": torch.randn(5, 3)}, "reg")


def test_segmentation_cross_entropy_and_dice():
    logits = torch.randn(2, 3, 4, 4)
    target = torch.randint(0, 3, (2, 1, 4, 4))
    ce = OutputSegmentation(logits, "mask").evaluate({"mask": target}, "seg")
    assert torch.allclose(ce.loss, F.cross_entropy(logits, target[:, 0]))
    perfect = torch.nn.functional.one_hot(target[:, 0], 3).permute(0, 3, 1, 2).float() * 100
    dice = OutputSegmentation(perfect, "mask", loss="dice").evaluate({"mask": target}, "seg")
    assert dice.loss.item() < 1e-3
    assert torch.allclose(dice.collect["accuracy"], torch.ones(2))
    with pytest.raises(ValueError, match="must have shape"):
        OutputSegmentation(logits, "mask").evaluate({"mask": torch.zeros(2, 5, 5, dtype=torch.long)}, "seg")


def test_embedding_has_no_loss():
    evaluation = OutputEmbedding(torch.randn(3, 8)).evaluate({}, "embedding")
    assert evaluation.loss is None and evaluation.collect["output"].shape == (3, 8)
