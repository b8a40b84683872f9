"""Search spaces: ``{name: spec}`` declared in a YAML file or discovered by running define-by-run code.

A space file (``search_spaces/*.yaml``) names everything ``trw-ray search FILE`` needs::

    trainable: trw_ray.examples.mnist_search:evaluate_hparams   # module:function(hparams, **trainable_kwargs)
    trainable_kwargs: {max_train_samples: 2000}                 # optional keyword arguments of the trainable
    metric: loss                                                 # what the search optimizes
    mode: min                                                    # min or max
    max_epochs: 3                                                # optional: the budget of one trial, in epochs
    parameters:
      learning_rate: {type: ContinuousPower, default: 0.1, exponent_min: -4, exponent_max: 0}
      number_hidden: {type: DiscreteInteger, default: 500, min: 100, max: 1000}

Discovery (:func:`discover_space`) runs the function once with every default: each ``hparams.create`` is
recorded; when the function trains with the Trainer, ``fit`` builds datasets, model and optimizers (so the
``create`` calls inside ``model_fn``/``optimizers_fn`` run) and stops before the first epoch.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trw_ray import checks
from trw_ray.hparams.space.hyperparameters import HyperParameters
from trw_ray.hparams.space.params import Param, param_from_dict

# what Ray Tune's report warns outside a trial (Ray 2.60)
_TUNE_REPORT_OUTSIDE_TRIAL = r"`?report`? is meant to only be called inside"
SPACE_KEYS = ("trainable", "trainable_kwargs", "metric", "mode", "max_epochs", "num_samples", "algorithm",
              "scheduler", "scheduler_options", "resources_per_trial", "description", "parameters")


@dataclass
class SearchSpace:
    """A search space and what runs it.

    Attributes:
        parameters: ``{name: spec}`` in declaration order.
        trainable: ``'module:function'`` or the function itself; called as ``function(hparams, **trainable_kwargs)``.
        trainable_kwargs: keyword arguments of the trainable.
        metric, mode: what the search optimizes.
        max_epochs, num_samples, algorithm, scheduler, scheduler_options, resources_per_trial: defaults of
            :func:`trw_ray.hparams.search`.
        source: the file the space was loaded from, if any.
    """

    parameters: dict[str, Param]
    trainable: str | Callable | None = None
    trainable_kwargs: dict[str, Any] = field(default_factory=dict)
    metric: str = "loss"
    mode: str = "min"
    max_epochs: int | None = None
    num_samples: int | None = None
    algorithm: str | None = None
    scheduler: str | None = None
    scheduler_options: dict[str, Any] | None = None
    resources_per_trial: dict[str, Any] | None = None
    description: str = ""
    source: str | None = None

    def defaults(self) -> dict[str, Any]:
        """Every parameter at its default."""
        return {name: spec.default for name, spec in self.parameters.items()}

    def to_tune(self) -> dict[str, Any]:
        """The space as Ray Tune's ``param_space`` (``tune.uniform``, ``tune.loguniform``, ``tune.choice``...)."""
        return to_tune_param_space(self.parameters)

    def describe(self) -> dict[str, Any]:
        """JSON-serializable description (written next to a search's results)."""
        return {name: spec.describe() for name, spec in self.parameters.items()}

    def resolve_trainable(self) -> Callable:
        """The trainable as a function ``hparams -> loss | (loss, infos)``."""
        function = import_function(self.trainable, "trainable") if isinstance(self.trainable, str) else self.trainable
        if not callable(function):
            raise ValueError(f"trainable: expected 'module:function' or a function; got {self.trainable!r}")
        if self.trainable_kwargs:
            import functools

            return functools.partial(function, **self.trainable_kwargs)
        return function


def import_function(reference: str, argument: str = "trainable") -> Callable:
    """``'package.module:function'`` -> the function. ValueError naming ``argument`` when it cannot be found."""
    module_name, _, qualname = reference.partition(":")
    if not module_name or not qualname:
        raise ValueError(f"{argument}: expected 'module:function'; got {reference!r}")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{argument}: cannot import {reference!r} ({type(error).__name__}: {error})") from error
    if not callable(obj):
        raise ValueError(f"{argument}: {reference!r} is not callable")
    return obj


def to_tune_param_space(parameters: Mapping[str, Param]) -> dict[str, Any]:
    """``{name: spec}`` as Ray Tune search domains (mappings and booleans become ``tune.choice`` of keys)."""
    from ray import tune

    from trw_ray.hparams.space.params import ContinuousPower, ContinuousUniform, DiscreteInteger

    converted = {}
    for name, spec in parameters.items():
        if isinstance(spec, ContinuousPower):
            converted[name] = tune.loguniform(10.0 ** spec.exponent_min, 10.0 ** spec.exponent_max)
        elif isinstance(spec, ContinuousUniform):
            converted[name] = tune.uniform(spec.min, spec.max)
        elif isinstance(spec, DiscreteInteger):
            converted[name] = tune.randint(spec.min, spec.max + 1)
        else:
            converted[name] = tune.choice(spec.choices)
    return converted


def _positive_int(value: Any, where: str) -> int:
    return checks.positive_int(value, where)


def space_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> SearchSpace:
    """Builds a :class:`SearchSpace` from the content of a space file; errors name ``source`` and the key."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a mapping with the keys {list(SPACE_KEYS)}; got {type(data).__name__}")
    unknown = sorted(set(data) - set(SPACE_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {unknown}; allowed: {list(SPACE_KEYS)}")
    parameters = data.get("parameters")
    if not isinstance(parameters, Mapping) or not parameters:
        raise ValueError(f"{source}: 'parameters' must map each hyper-parameter name to a spec "
                         f"({{type: ContinuousUniform, default: ..., min: ..., max: ...}}); got {parameters!r}")
    specs = {str(name): param_from_dict(spec, f"{source}: parameters.{name}") for name, spec in parameters.items()}
    mode = data.get("mode", "min")
    checks.mode(mode, f"{source}: mode")
    metric = data.get("metric", "loss")
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"{source}: metric: expected a non-empty string; got {metric!r}")
    trainable = data.get("trainable")
    if trainable is not None and (not isinstance(trainable, str) or ":" not in trainable):
        raise ValueError(f"{source}: trainable: expected 'module:function'; got {trainable!r}")
    kwargs = data.get("trainable_kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"{source}: trainable_kwargs: expected a mapping of keyword arguments; got {kwargs!r}")
    max_epochs = data.get("max_epochs")
    if max_epochs is not None:
        _positive_int(max_epochs, f"{source}: max_epochs")
    num_samples = data.get("num_samples")
    if num_samples is not None:
        _positive_int(num_samples, f"{source}: num_samples")
    resources = data.get("resources_per_trial")
    if resources is not None and not isinstance(resources, Mapping):
        raise ValueError(f"{source}: resources_per_trial: expected a mapping like {{cpu: 1, gpu: 0}}; got {resources!r}")
    scheduler_options = data.get("scheduler_options")
    if scheduler_options is not None and not isinstance(scheduler_options, Mapping):
        raise ValueError(f"{source}: scheduler_options: expected a mapping like {{grace_period: 1}}; "
                         f"got {scheduler_options!r}")
    return SearchSpace(parameters=specs, trainable=trainable, trainable_kwargs=dict(kwargs), metric=metric, mode=mode,
                       max_epochs=max_epochs, num_samples=num_samples, algorithm=data.get("algorithm"),
                       scheduler=data.get("scheduler"),
                       scheduler_options=dict(scheduler_options) if scheduler_options else None,
                       resources_per_trial=dict(resources) if resources else None,
                       description=str(data.get("description", "")), source=source)


def load_space(path: str | os.PathLike) -> SearchSpace:
    """Loads a YAML space file (see the module documentation for its keys).

    Examples:
        >>> space = load_space('search_spaces/mnist_cnn_tiny.yaml')
        >>> sorted(space.parameters)
        ['learning_rate', 'number_conv1_channels', 'number_hidden']
    """
    return space_from_dict(read_yaml(path, "space file"), str(path))


def read_yaml(path: str | os.PathLike, what: str) -> Any:
    """The YAML document at ``path`` (FileNotFoundError or ValueError naming ``path`` and ``what`` it should be)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no {what} at {str(path)!r}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from error


def discover_space(evaluate_fn: Callable[[HyperParameters], Any]) -> dict[str, Param]:
    """Runs a define-by-run function with every default until it is about to train; returns the specs it declared.

    The function's ``hparams.create`` calls are recorded. Inside ``Trainer.fit`` the datasets, model and optimizers
    are built, then training stops (no epoch runs, no run folder is kept). An own training loop stops at its first
    report (:func:`trw_ray.hparams.report` or ``ray.tune.report``): one epoch runs. Any other function runs once
    to its end.
    """
    from trw_ray import search_context

    hparams = HyperParameters()
    with search_context.activate(search_context.SearchContext(mode="discovery")), warnings.catch_warnings():
        # ray.tune.report outside a trial only warns: in an own loop, its first call ends the discovery
        warnings.filterwarnings("error", message=_TUNE_REPORT_OUTSIDE_TRIAL, category=UserWarning)
        try:
            evaluate_fn(hparams)
        except search_context.DiscoveryComplete:
            pass
        except UserWarning as warning:
            if not re.match(_TUNE_REPORT_OUTSIDE_TRIAL, str(warning)):
                raise
        except Exception as error:
            raise RuntimeError(
                f"evaluate_fn: discovering the space runs it once with every default ({hparams.chosen}), and it raised "
                f"{type(error).__name__}: {error}; fix it or pass space= a dict {{name: spec}} or a space file") from error
    if not hparams.specs:
        raise ValueError("evaluate_fn: no hyper-parameter was declared (hparams.create was never called before "
                         "training started); pass space= a dict {name: spec} or a space file")
    return dict(hparams.specs)


def space_from_settings(settings: Mapping[str, Any]) -> dict[str, Param]:
    """The specs recorded in a search's ``search.json`` (mappings come back as their keys)."""
    specs = {}
    for name, description in (settings.get("space") or {}).items():
        description = dict(description)
        if description.get("type") == "DiscreteMapping":
            description = {"type": "DiscreteValue", "default": description["default"], "values": description["keys"]}
        try:
            specs[name] = param_from_dict(description, f"space.{name}")
        except ValueError:
            continue  # an unreadable spec: the column's range is inferred instead
    return specs


def resolve_space(evaluate_fn, space) -> tuple[Callable, SearchSpace]:
    """``(function, space)`` of a search: a space file or :class:`SearchSpace` (whose trainable runs when no
    function is given), a ``{name: spec}`` dict, or None to discover the space by running the function."""
    if isinstance(space, (str, os.PathLike)):
        space = load_space(space)
    if isinstance(space, SearchSpace):
        if evaluate_fn is None:
            if space.trainable is None:
                raise ValueError(f"evaluate_fn: none given and the space {space.source or ''} names no trainable")
            evaluate_fn = space.resolve_trainable()
        return evaluate_fn, space
    if isinstance(evaluate_fn, str):
        evaluate_fn = import_function(evaluate_fn, "evaluate_fn")
    if not callable(evaluate_fn):
        raise TypeError(f"evaluate_fn: expected a function hparams -> loss | (loss, infos) or 'module:function'; "
                        f"got {evaluate_fn!r}")
    if space is None:
        return evaluate_fn, SearchSpace(parameters=discover_space(evaluate_fn))
    if isinstance(space, Mapping):
        for name, spec in space.items():
            if not isinstance(spec, Param):
                raise TypeError(f"space: {name!r} must be a parameter spec (ContinuousUniform, ...); "
                                f"got {type(spec).__name__}")
        if not space:
            raise ValueError("space: expected a non-empty dict {name: spec}")
        return evaluate_fn, SearchSpace(parameters=dict(space))
    raise TypeError(f"space: expected None (define-by-run), a dict {{name: spec}}, a SearchSpace or a YAML path; "
                    f"got {type(space).__name__}")


def function_name(evaluate_fn: Any) -> str:
    """The bare name of a trainable (of the function a ``functools.partial`` wraps), for experiment names."""
    target = getattr(evaluate_fn, "func", evaluate_fn)
    return getattr(target, "__name__", type(target).__name__).strip("<>") or "search"


def function_label(evaluate_fn: Any) -> str:
    """``module:function`` of a trainable; a ``functools.partial`` shows the function it wraps and its arguments
    (``trw_ray.examples.mnist_search:evaluate_hparams(num_epochs=3)``)."""
    target, arguments = evaluate_fn, []
    while isinstance(target, functools.partial):
        arguments = [repr(value) for value in target.args] + [f"{key}={value!r}" for key, value in
                                                               target.keywords.items()] + arguments
        target = target.func
    label = f"{getattr(target, '__module__', None) or '?'}:{getattr(target, '__qualname__', function_name(target))}"
    return f"{label}({', '.join(arguments)})" if arguments else label
