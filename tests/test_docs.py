"""The API reference covers every public name: each name of a documented package's ``__all__`` has an entry on its
package's page, documented there or linked to the page that documents it."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
gen_reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen_reference)
OWNERS = gen_reference.owners()


@pytest.mark.parametrize("package, title, summary", gen_reference.PACKAGES)
def test_every_public_name_has_a_reference_entry(package, title, summary):
    page = gen_reference.page(package, title, summary, OWNERS)
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if f"`{package}.{name}`" not in page]
    assert missing == []
    for name, target in gen_reference.entries(package):
        if target is not None:  # documented on exactly one page
            owner = OWNERS[target]
            assert (f"::: {target}\n" in page) == (owner == package), (name, target, owner)


def test_the_site_navigation_lists_every_page():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = [path.relative_to(ROOT / "docs").as_posix() for path in (ROOT / "docs").rglob("*.md")
             if "reference" not in path.parts]
    assert all(page in nav for page in pages), [page for page in pages if page not in nav]
    for package, _, _ in gen_reference.PACKAGES:
        assert f"reference/{package.rsplit('.', 1)[-1]}.md" in nav


def test_the_readme_is_a_front_page_whose_links_stay_in_the_repository():
    import re

    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    targets = re.findall(r"\]\(([^)#]+)", readme)
    assert targets, "the README links its guides"
    for target in targets:
        assert not target.startswith(("http", "/", "..")), target
        assert (ROOT / target).exists(), target


@pytest.mark.parametrize("package", [package for package, _, _ in gen_reference.PACKAGES])
def test_every_public_class_and_function_has_a_summary(package):
    import inspect

    module = importlib.import_module(package)
    missing = [name for name in module.__all__
               if (inspect.isclass(getattr(module, name)) or inspect.isfunction(getattr(module, name)))
               and not (inspect.getdoc(getattr(module, name)) or "").strip()]
    assert missing == []
