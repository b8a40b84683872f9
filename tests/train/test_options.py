import pytest
import torch

import trw_ray as trw
from trw_ray.train.options import resolve_device


def test_defaults_follow_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TRW_RAY_LOGGING_ROOT", str(tmp_path / "root"))
    options = trw.train.create_default_options(num_epochs=3)
    assert options["workflow_options"]["logging_directory"] == str(tmp_path / "root")
    assert options["training_parameters"]["num_epochs"] == 3
    assert options["training_parameters"]["mixed_precision"] is None
    assert options["training_parameters"]["gradient_accumulation_steps"] == 1
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert options["workflow_options"]["device"].type == expected


def test_default_logging_directory_is_home(monkeypatch):
    monkeypatch.delenv("TRW_RAY_LOGGING_ROOT", raising=False)
    options = trw.train.create_default_options()
    assert options["workflow_options"]["logging_directory"].endswith("trw_ray_logs")


@pytest.mark.parametrize("device", ["gpu0", "cuda:x", "banana"])
def test_unknown_device_string(device):
    with pytest.raises(ValueError, match="device"):
        trw.train.create_default_options(device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.parametrize(
    "kwargs, argument",
    [({"num_epochs": 0}, "num_epochs"), ({"mixed_precision": "fp8"}, "mixed_precision"),
     ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps"),
     ({"gradient_clipping_norm": -1.0}, "gradient_clipping_norm")],
)
def test_invalid_arguments_name_themselves(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        trw.train.create_default_options(**kwargs)


def test_fp16_needs_cuda():
    with pytest.raises(ValueError, match="fp16"):
        trw.train.create_default_options(device="cpu", mixed_precision="fp16")


def test_unknown_keyword_is_type_error():
    with pytest.raises(TypeError):
        trw.train.create_default_options(num_epoch=3)
