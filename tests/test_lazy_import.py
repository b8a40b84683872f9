"""Acting on modules that may not be loaded (no Ray, no torch import needed by the helpers themselves)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from trw_ray.lazy_import import AfterImport, is_tensor, lazy_exports, when_imported


def test_is_tensor():
    assert is_tensor(torch.zeros(1)) and not is_tensor(np.zeros(1)) and not is_tensor([1])


def test_a_hook_for_a_missing_module_finds_nothing_and_removes_itself():
    hook = AfterImport("a_module_that_does_not_exist_anywhere", lambda module: None)
    sys.meta_path.insert(0, hook)
    try:
        assert hook.find_spec("a_module_that_does_not_exist_anywhere") is None
        assert hook not in sys.meta_path
    finally:
        hook.remove()


def test_when_imported_acts_now_or_once_the_module_executed(tmp_path, monkeypatch):
    seen = []
    assert when_imported("torch", lambda module: seen.append(module.__name__)) is None
    assert seen == ["torch"]
    (tmp_path / "late_module_for_hook.py").write_text("VALUE = 41\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    hook = when_imported("late_module_for_hook", lambda module: seen.append(module.VALUE + 1))
    try:
        assert hook in sys.meta_path
        import late_module_for_hook  # noqa: F401

        assert seen == ["torch", 42]
        assert hook not in sys.meta_path
        assert type(late_module_for_hook.__loader__).__name__ != "_ActingLoader"
    finally:
        hook.remove()
        sys.modules.pop("late_module_for_hook", None)


def test_lazy_exports_load_once_and_name_missing_attributes():
    namespace = {"__name__": "some_package"}
    getattr_, dir_ = lazy_exports(namespace, {"json": "json", "dumps": "json:dumps"})
    import json

    assert getattr_("dumps") is json.dumps and namespace["dumps"] is json.dumps
    assert getattr_("json") is json
    assert {"json", "dumps"} <= set(dir_())
    with pytest.raises(AttributeError, match="module 'some_package' has no attribute 'loads'"):
        getattr_("loads")
