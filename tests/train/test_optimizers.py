import pytest
import torch

import trw_ray as trw


def test_sgd_per_dataset_with_scheduler():
    model = torch.nn.Linear(2, 2)
    optimizers, schedulers = trw.train.create_sgd_optimizers_fn(
        {"a": {}, "b": {}}, model, learning_rate=0.1, scheduler_fn=trw.train.create_scheduler_step_lr(1, gamma=0.5))
    assert set(optimizers) == {"a", "b"} and set(schedulers) == {"a", "b"}
    assert optimizers["a"].param_groups[0]["momentum"] == 0.9
    optimizers["a"].step()
    schedulers["a"].step()
    assert optimizers["a"].param_groups[0]["lr"] == pytest.approx(0.05)


def test_adam_and_cosine():
    model = torch.nn.Linear(2, 2)
    optimizers, schedulers = trw.train.create_adam_optimizers_fn(
        {"a": {}}, model, learning_rate=1e-3, scheduler_fn=trw.train.create_scheduler_cosine(4))
    assert isinstance(optimizers["a"], torch.optim.AdamW)
    for _ in range(4):
        optimizers["a"].step()
        schedulers["a"].step()
    assert optimizers["a"].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("kwargs, argument", [({"learning_rate": 0}, "learning_rate"),
                                              ({"learning_rate": 0.1, "momentum": 1.5}, "momentum")])
def test_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        trw.train.create_sgd_optimizers_fn({"a": {}}, torch.nn.Linear(1, 1), **kwargs)


def test_to_value():
    assert trw.train.to_value(torch.tensor(2.5)) == 2.5
    assert trw.train.to_value(torch.tensor([1, 2])).tolist() == [1, 2]
    assert trw.train.to_value(3) == 3
