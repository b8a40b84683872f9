import numpy as np
import pytest
import torch

from trw_ray.train import SequenceArray


def split(n=10):
    return {"x": np.arange(n * 3, dtype=np.float32).reshape(n, 3), "y": np.arange(n), "name": [f"s{i}" for i in range(n)]}


def test_batches_cover_every_sample_once_and_keep_features_aligned():
    sequence = SequenceArray(split(10), batch_size=4, shuffle=True, seed=1)
    batches = list(sequence)
    assert [len(b["y"]) for b in batches] == [4, 4, 2]
    assert len(sequence) == 3
    uids = torch.cat([b["sample_uid"] for b in batches]).tolist()
    assert sorted(uids) == list(range(10))
    for batch in batches:
        assert isinstance(batch["x"], torch.Tensor) and batch["x"].dtype == torch.float32
        assert torch.equal(batch["x"][:, 0], batch["y"].float() * 3)
        assert torch.equal(batch["sample_uid"], batch["y"])
        assert batch["name"] == [f"s{i}" for i in batch["y"].tolist()]


def test_shuffle_is_seeded_and_changes_per_epoch():
    a = SequenceArray(split(50), batch_size=50, seed=3)
    b = SequenceArray(split(50), batch_size=50, seed=3)
    c = SequenceArray(split(50), batch_size=50, seed=4)
    first_a, second_a = next(iter(a))["y"].tolist(), next(iter(a))["y"].tolist()
    assert first_a == next(iter(b))["y"].tolist()
    assert first_a != second_a
    assert first_a != next(iter(c))["y"].tolist()


def test_no_shuffle_keeps_order_and_drop_last():
    sequence = SequenceArray(split(10), batch_size=4, shuffle=False, drop_last=True)
    assert [b["y"].tolist() for b in sequence] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(sequence) == 2


def test_existing_sample_uid_is_kept():
    data = split(4)
    data["sample_uid"] = np.array([10, 11, 12, 13])
    batch = next(iter(SequenceArray(data, batch_size=4, shuffle=False)))
    assert batch["sample_uid"].tolist() == [10, 11, 12, 13]


def test_channel_axis_added_by_none_gets_row_major_strides():
    images = np.zeros((6, 28, 28), dtype=np.uint8)[:, None]
    batch = next(iter(SequenceArray({"images": images}, batch_size=3)))
    assert batch["images"].is_contiguous()
    assert batch["images"].view(3, -1).shape == (3, 784)
    conv = torch.nn.Conv2d(1, 2, 3)
    assert conv(batch["images"].float()).view(3, -1).shape[0] == 3


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="same number of samples"):
        SequenceArray({"x": np.zeros(3), "y": np.zeros(4)})


def test_empty_split_is_refused():
    with pytest.raises(ValueError, match="empty"):
        SequenceArray({"x": np.zeros((0, 2))})
    with pytest.raises(ValueError, match="split"):
        SequenceArray({})


def test_bad_batch_size_and_feature_type():
    with pytest.raises(ValueError, match="batch_size"):
        SequenceArray(split(), batch_size=0)
    with pytest.raises(TypeError, match="feature 'x'"):
        SequenceArray({"x": 5})
