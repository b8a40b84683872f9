import os

from trw_ray.hparams.tuning.tune_run import (
    cached_trainable_lookups,
    environment_defaults,
    trial_actors_without_runtime_env,
)


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


def _fake_actor_class_cache(monkeypatch, inherited):
    from ray.tune.execution import class_cache

    import trw_ray.ray_session

    tunes_calls = []

    def tunes_get(self, trainable_cls):
        tunes_calls.append(trainable_cls)
        return "actor class with a runtime environment"

    monkeypatch.setattr(class_cache._ActorClassCache, "get", tunes_get)
    monkeypatch.setattr(class_cache, "DEFAULT_ENV_VARS", {"PL_DISABLE_FORK": "1"})
    monkeypatch.setattr(class_cache, "ENV_VARS_TO_PROPAGATE", {"TRW_RAY_TEST_PROPAGATED"})
    monkeypatch.setattr(trw_ray.ray_session, "local_worker_environment", lambda: inherited)
    return class_cache._ActorClassCache, tunes_get, tunes_calls


def test_trial_actors_skip_the_runtime_env_only_where_the_workers_inherited_it(monkeypatch):
    inherited = {"PL_DISABLE_FORK": "1", "TRW_RAY_TEST_PROPAGATED": "a"}
    cache_type, tunes_get, tunes_calls = _fake_actor_class_cache(monkeypatch, inherited)
    trainable = type("Trainable", (), {})
    monkeypatch.setenv("TRW_RAY_TEST_PROPAGATED", "a")
    with trial_actors_without_runtime_env() as active:
        assert active
        actor_class = cache_type.get(None, trainable)
        assert actor_class is cache_type.get(None, trainable) and actor_class != tunes_get(None, trainable)
        assert actor_class.__ray_metadata__.modified_class.__name__ == "Trainable"
        tunes_calls.clear()
        monkeypatch.setenv("TRW_RAY_TEST_PROPAGATED", "changed since Ray started")  # Tune would send the new value
        assert cache_type.get(None, trainable) == "actor class with a runtime environment"
        assert tunes_calls == [trainable]
    assert cache_type.get is tunes_get


def test_overlapping_blocks_keep_the_actor_classes_until_the_last_ends(monkeypatch):
    cache_type, tunes_get, _ = _fake_actor_class_cache(monkeypatch, {"PL_DISABLE_FORK": "1"})
    monkeypatch.delenv("TRW_RAY_TEST_PROPAGATED", raising=False)
    outer, inner = trial_actors_without_runtime_env(), trial_actors_without_runtime_env()
    assert outer.__enter__() and inner.__enter__()
    outer.__exit__(None, None, None)
    assert cache_type.get is not tunes_get
    inner.__exit__(None, None, None)
    assert cache_type.get is tunes_get


def test_on_a_ray_trw_ray_did_not_start_tunes_actor_classes_are_kept(monkeypatch):
    cache_type, tunes_get, _ = _fake_actor_class_cache(monkeypatch, None)
    with trial_actors_without_runtime_env() as active:
        assert not active and cache_type.get is tunes_get


def test_the_embedded_ray_is_known_by_its_node_only(monkeypatch):
    import trw_ray.ray_session as ray_session

    monkeypatch.setattr(ray_session, "_local_ray", {"node_id": None, "environment": None})
    assert ray_session.local_worker_environment() is None  # no Ray trw_ray started


_TERMINATED_FIT = """
import os, signal, sys
from trw_ray.hparams.tuning.tune_run import termination_ends_the_fit_gracefully
interrupted = []
with termination_ends_the_fit_gracefully():
    signal.signal(signal.SIGUSR1, lambda signum, frame: interrupted.append(signum))  # as Tune's fit sets it
    os.kill(os.getpid(), signal.SIGTERM)
    assert interrupted == [signal.SIGTERM], interrupted
    print("state saved", flush=True)  # Tune's loop ends, saves its state and returns
print("never printed: the signal takes its course at the block's end", flush=True)
"""

_TERMINATED_BEFORE_THE_FIT = """
import os, signal
from trw_ray.hparams.tuning.tune_run import termination_ends_the_fit_gracefully
signal.signal(signal.SIGUSR1, lambda signum, frame: None)  # what an earlier fit of Tune left
with termination_ends_the_fit_gracefully():
    os.kill(os.getpid(), signal.SIGTERM)  # Tune's handler is not there yet: the process ends at once
    print("never printed", flush=True)
"""


def test_sigterm_lets_tune_save_its_state_then_ends_the_process():
    import signal
    import subprocess
    import sys

    for script, printed in ((_TERMINATED_FIT, "state saved\n"), (_TERMINATED_BEFORE_THE_FIT, "")):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == -signal.SIGTERM, done.stderr
        assert done.stdout == printed, done.stdout
        assert ("trw_ray: SIGTERM received" in done.stderr) == bool(printed), done.stderr  # only when Tune saves
