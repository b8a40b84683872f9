import os

from trw_ray.hparams.tune_run import cached_trainable_lookups, environment_defaults


def test_trainable_lookups_are_cached_within_the_fit_only(monkeypatch):
    from ray.tune.experiment import trial as trial_module

    lookups = []

    def registry_lookup(name):  # the registry unpickles a new class at each lookup
        lookups.append(name)
        return type(f"Trainable_{name}", (), {})

    monkeypatch.setattr(trial_module, "get_trainable_cls", registry_lookup)
    with cached_trainable_lookups() as cache:
        first = trial_module.get_trainable_cls("a")
        assert trial_module.get_trainable_cls("a") is first  # Tune's actor-class cache, keyed by class, now hits
        other = trial_module.get_trainable_cls("b")
        assert other is not first and set(cache) == {"a", "b"}
    assert lookups == ["a", "b"]
    assert trial_module.get_trainable_cls is registry_lookup  # restored
    assert trial_module.get_trainable_cls("a") is not first


def test_overlapping_fits_share_the_cache_and_the_last_restores_the_lookup(monkeypatch):
    from ray.tune.experiment import trial as trial_module

    def registry_lookup(name):
        return type(f"Trainable_{name}", (), {})

    monkeypatch.setattr(trial_module, "get_trainable_cls", registry_lookup)
    outer = cached_trainable_lookups()
    inner = cached_trainable_lookups()
    outer.__enter__()
    first = trial_module.get_trainable_cls("a")
    inner.__enter__()
    outer.__exit__(None, None, None)  # the first fit ends while the second runs
    assert trial_module.get_trainable_cls("a") is first
    inner.__exit__(None, None, None)
    assert trial_module.get_trainable_cls is registry_lookup


def test_environment_defaults_leave_what_the_user_set(monkeypatch):
    monkeypatch.setenv("TRW_RAY_TEST_SET", "user")
    monkeypatch.delenv("TRW_RAY_TEST_UNSET", raising=False)
    with environment_defaults({"TRW_RAY_TEST_SET": "ours", "TRW_RAY_TEST_UNSET": "ours", "TRW_RAY_TEST_NONE": None}):
        assert os.environ["TRW_RAY_TEST_SET"] == "user" and os.environ["TRW_RAY_TEST_UNSET"] == "ours"
        assert "TRW_RAY_TEST_NONE" not in os.environ
    assert "TRW_RAY_TEST_UNSET" not in os.environ and os.environ["TRW_RAY_TEST_SET"] == "user"


def test_without_tunes_lookup_the_fit_runs_uncached(monkeypatch):
    from ray.tune.experiment import trial as trial_module

    monkeypatch.delattr(trial_module, "get_trainable_cls")  # a Ray release without the internal name
    with cached_trainable_lookups() as cache:
        assert cache == {} and not hasattr(trial_module, "get_trainable_cls")
    assert not hasattr(trial_module, "get_trainable_cls")
