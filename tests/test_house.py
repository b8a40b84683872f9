"""The house rules of the package, checked on its source: no module over ~400 lines, no module importing an
underscore name of another, no two modules importing each other (except the chaining methods of ``trw_ray.data``'s
sequences, which need their subclasses)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "trw_ray"
MAX_LINES = 400
#: a sequence's chaining methods (``.map()``, ``.batch()``...) build its subclasses
MUTUAL_ALLOWED = {"trw_ray.data.sequence"}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(path: Path, modules: dict[str, Path]):
    """``(imported module, imported name or None)`` of every trw_ray import outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(child) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node)
               for statement in node.body for child in ast.walk(statement)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("trw_ray"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield (submodule, None) if submodule in modules else (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("trw_ray"):
                    yield alias.name, None


MODULES = _modules()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by concept (the limit is {MAX_LINES})"


def test_no_module_imports_an_underscore_name_of_another():
    reached = [(name, target, imported) for name, path in MODULES.items() for target, imported in _imports(path, MODULES)
               if imported and imported.startswith("_") and not imported.startswith("__") and target != name]
    assert reached == []


def _defined_private_functions() -> dict[str, set[str]]:
    """``{name: modules defining it}`` of every underscore function and method of the package."""
    defined: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("_") \
                    and not node.name.startswith("__"):
                defined.setdefault(node.name, set()).add(name)
    return defined


def test_no_module_calls_an_underscore_function_of_another():
    """``something._name`` where ``_name`` is a private function of another module (``self`` and ``cls`` aside)."""
    defined = _defined_private_functions()
    reached = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in defined and name not in defined[node.attr] \
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                reached.append((name, node.attr, node.lineno))
    assert reached == []


def test_no_two_modules_import_each_other():
    graph = {name: {target for target, _ in _imports(path, MODULES) if target in MODULES} for name, path in MODULES.items()}
    mutual = sorted((a, b) for a, targets in graph.items() for b in targets
                    if a < b and a in graph.get(b, ()) and a not in MUTUAL_ALLOWED and b not in MUTUAL_ALLOWED
                    and not b.startswith(a + ".") and not a.startswith(b + "."))
    assert mutual == []


def test_the_checks_see_what_they_check(tmp_path):
    """The import reader finds a plain, a lazy and an underscore import, and skips ``TYPE_CHECKING`` ones."""
    module = tmp_path / "example.py"
    module.write_text("from typing import TYPE_CHECKING\nfrom trw_ray.layout import _hidden\n"
                      "def f():\n    from trw_ray import checks\n"
                      "if TYPE_CHECKING:\n    from trw_ray.results.experiment import ExperimentResults\n")
    found = set(_imports(module, MODULES))
    assert found == {("trw_ray.layout", "_hidden"), ("trw_ray.checks", None)}


def test_no_package_exports_a_name_its_submodule_takes():
    """A package's exported function must not share its name with a submodule: importing the submodule anywhere
    replaces the package's attribute with the module (``trw.reports.search_report`` would stop being callable)."""
    clashes = []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        package = ".".join(init.parent.relative_to(PACKAGE.parent).parts)
        submodules = {path.stem for path in init.parent.glob("*.py")} | \
            {path.name for path in init.parent.iterdir() if (path / "__init__.py").is_file()}
        tree = ast.parse(init.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and isinstance(value, ast.Constant) and key.value in submodules \
                            and value.value != f"{package}.{key.value}":
                        clashes.append((package, key.value, value.value))
            elif isinstance(node, ast.ImportFrom) and node.module != package:
                clashes += [(package, alias.asname or alias.name, node.module) for alias in node.names
                            if (alias.asname or alias.name) in submodules
                            and f"{node.module}.{alias.name}" != f"{package}.{alias.asname or alias.name}"]
    assert clashes == []
