"""Writes ``docs/reference/*.md``: one page per public package, one entry per name of its ``__all__``, pointing
mkdocstrings at the module that defines it (the packages load their names lazily, which a static reader cannot
follow). Run by ``make docs`` before ``mkdocs build``; the pages are not committed, so they never drift."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

#: (package, title, what it is) in the order of the navigation
PACKAGES = [
    ("trw_ray.train", "Training", "the Trainer, its options, optimizers, outputs, callbacks and sequences"),
    ("trw_ray.layers", "Simple layers", "nodes with shape inference compiled into a torch module"),
    ("trw_ray.data", "Input pipelines", "sequences: arrays, map pipelines on Ray, the async reservoir"),
    ("trw_ray.datasets", "Datasets", "MNIST and Fashion-MNIST"),
    ("trw_ray.hparams", "Hyper-parameter search", "specs, spaces, searchers, the search driver on Ray Tune"),
    ("trw_ray.nas", "Architecture search", "DARTS, evolution over cells, ranking"),
    ("trw_ray.results", "Results", "reading experiments without Ray"),
    ("trw_ray.reports", "Reports", "run, search, error, architecture and comparison reports"),
    ("trw_ray.tracking", "Tracking", "MLflow, Weights & Biases, TensorBoard HParams"),
]
FOLDER = Path(__file__).resolve().parent / "reference"


def entries(package: str) -> list[tuple[str, str | None]]:
    """``(name, 'module.qualname' or None)`` of every name of the package's ``__all__``; None for what is not a
    class or function (a constant, a module), listed by name only."""
    module = importlib.import_module(package)
    found = []
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            found.append((name, f"{value.__module__}.{value.__qualname__}"))
        elif inspect.ismodule(value):
            found.append((name, value.__name__))
        else:
            found.append((name, None))
    return found


def owners() -> dict[str, str]:
    """``{target: package}``: the one page that documents each object: the package that defines it when it exports
    it, else the first package (in :data:`PACKAGES` order) that does. Other packages link to that page (``trw.train``
    re-exports the sequences of ``trw.data``, the seed's spelling)."""
    exported = {package: dict(entries(package)) for package, _, _ in PACKAGES}
    owner: dict[str, str] = {}
    for package, _, _ in PACKAGES:
        for target in exported[package].values():
            if target is not None and target not in owner:
                defining = [p for p, _, _ in PACKAGES if target.startswith(p + ".") and target in exported[p].values()]
                owner[target] = defining[0] if defining else package
    return owner


def page(package: str, title: str, summary: str, owner: dict[str, str]) -> str:
    lines = [f"# {title}: `{package}`", "", f"{summary[0].upper()}{summary[1:]}.", ""]
    constants, elsewhere = [], []
    for name, target in entries(package):
        if target is None:
            constants.append(name)
        elif owner[target] != package:
            elsewhere.append(f"- `{package}.{name}`: documented as [`{target}`]"
                             f"({owner[target].rsplit('.', 1)[-1]}.md#{target})")
        else:
            lines += [f"## `{package}.{name}`", "", f"::: {target}", "    options:", "      show_root_heading: false",
                      "      heading_level: 3", ""]
    if elsewhere:
        lines += ["## Also exported here", "", *elsewhere, ""]
    if constants:
        lines += ["## Constants", "", *[f"- `{package}.{name}`" for name in constants], ""]
    return "\n".join(lines)


def cli_page() -> str:
    """``trw-ray --help`` and the help of each command."""
    import argparse

    from trw_ray.cli import build_parser

    parser = build_parser()
    lines = ["# Command line: `trw-ray`", "", "```text", parser.format_help().rstrip(), "```", ""]
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        lines += [f"## `trw-ray {name}`", "", "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def main() -> None:
    FOLDER.mkdir(exist_ok=True)
    index = ["# API reference", "", "Every public name of each package (its `__all__`), from the docstrings.", ""]
    owner = owners()
    for package, title, summary in PACKAGES:
        name = package.rsplit(".", 1)[-1]
        (FOLDER / f"{name}.md").write_text(page(package, title, summary, owner), encoding="utf-8")
        index.append(f"- [{title}]({name}.md): {summary}")
    (FOLDER / "cli.md").write_text(cli_page(), encoding="utf-8")
    index.append("- [Command line](cli.md): `trw-ray` and each of its commands")
    (FOLDER / "index.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    print(f"docs/reference: {len(PACKAGES)} pages", file=sys.stderr)


if __name__ == "__main__":
    main()
