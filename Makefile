# make tour  -> set up .venv, then run the MNIST tour
# make test  -> set up .venv, then run the test suite (fast tests; `make test-slow` for the rest)
# make bench -> set up .venv, then run the benchmarks (see benchmarks/README.md)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.trw_ray-installed

# Without an NVIDIA driver, torch==2.13.0 resolves to the small CPU wheel on machines that provide one
# (plain `pip install torch` would pull a 5.5 GB CUDA build); with a driver, pip picks the CUDA build.
# Override with e.g. `make test TORCH_SPEC="torch==2.13.0"`.
TORCH_SPEC ?= $(shell if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then echo "torch"; else echo "torch==2.13.0"; fi)
PIP_QUIET ?= -q

export RAY_USAGE_STATS_ENABLED ?= 0

.PHONY: setup tour test test-slow test-cluster test-all docs bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@start=$$(date +%s); \
	test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	$(PY) -m pip install $(PIP_QUIET) "$(TORCH_SPEC)" && \
	$(PY) -m pip install $(PIP_QUIET) -e ".[dev]" && \
	touch $(STAMP) && \
	echo "trw_ray: environment ready in $$(( $$(date +%s) - start )) s ($(VENV), $(TORCH_SPEC))"

tour: $(STAMP)
	$(VENV)/bin/trw-ray tour

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# the multi-node tests (tests/cluster, marker cluster): a 3-node Ray cluster on 127.0.0.1, a node killed mid-search
test-cluster: $(STAMP)
	$(PY) -m pytest -q -m cluster -s

# the documentation site (docs/, the API reference generated from the docstrings) into site/; any warning fails it
docs: $(STAMP)
	$(PY) -m pip install $(PIP_QUIET) -e ".[docs]"
	$(PY) docs/gen_reference.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

test-all: $(STAMP)
	$(PY) -m pytest -q -m ""

bench: $(STAMP)
	$(PY) -m pip install $(PIP_QUIET) -e ".[dev,bench]"
	$(PY) benchmarks/trainer_overhead.py
	$(PY) benchmarks/simple_layers_overhead.py
	$(PY) benchmarks/reports_overhead.py
	$(PY) benchmarks/pipeline_throughput.py
	$(PY) benchmarks/mnist_full.py
	$(PY) benchmarks/search_efficiency.py
	$(PY) benchmarks/nas_darts.py
	$(PY) benchmarks/nas_evolution.py

lint: $(STAMP)
	$(VENV)/bin/ruff check trw_ray tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
