"""The documentation site as a reader meets it: built from a fresh tree with warnings as errors, every internal
link resolving, and the landing page, a guide and a reference page rendered with their navigation by headless
Chromium over HTTP on loopback."""

import functools
import http.server
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import chromium_path

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs")
    folder = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, str(ROOT / "docs" / "gen_reference.py")], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)], cwd=ROOT,
                           capture_output=True, text=True, timeout=600, env={**__import__("os").environ,
                                                                              "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr[-3000:]
    return folder


def test_every_internal_link_of_the_site_resolves(site):
    broken = []
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 15
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path or link.startswith(("mailto:", "javascript:", "data:")):
                continue
            base = site if parts.path.startswith("/") else page.parent  # 404.html links from the site's root
            target = (base / unquote(parts.path).lstrip("/")).resolve()
            if parts.path.endswith("/") or target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append((str(page.relative_to(site)), link))
    assert broken == []


def test_chromium_renders_the_landing_page_a_guide_and_a_reference_page_with_navigation(site):
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium is not installed (.ci/run installs chromium-headless-shell from Debian)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for path, expected in (("", "Getting started"),
                               ("guides/training/", "examples/train_with_reports.py"),
                               ("reference/hparams/", "trw_ray.hparams.search")):
            url = f"http://127.0.0.1:{server.server_port}/{path}"
            completed = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
                                       capture_output=True, text=True, timeout=120, check=False)
            dom = completed.stdout
            assert "md-nav" in dom and "Guides" in dom and "API reference" in dom, (url, completed.stderr[-1500:])
            assert expected in dom, (url, expected)
    finally:
        server.shutdown()
