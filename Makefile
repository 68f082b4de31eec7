# Every target sets itself up: a fresh machine needs only `make demo` / `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export KERAS_BACKEND ?= jax
# Keras writes ~/.keras/keras.json on first import; keep tests away from the user's home.
TEST_KERAS_HOME := $(shell mktemp -d -u /tmp/keras_sanitize_keras_home.XXXXXX)
FUZZ_SECONDS ?= 60
# `make test` runs the fast tier; `make test SLOW=1` (what CI runs) adds the tests marked slow.
SLOW ?=

.PHONY: install test lint typecheck unit demo bench fuzz clean check-libmagic test-torch

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@$(MAKE) --no-print-directory check-libmagic
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,fuzz,ray]'
	@# the second backend of `make test` is TensorFlow (tensorflow-cpu, in the test extra): string-input
	@# models and tf.data need it, and it pulls no CUDA. torch is `make test-torch`.
	@touch $(STAMP)

check-libmagic:
	@if ! { ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1'; } && ! ls /usr/lib/*/libmagic.so.1 /usr/lib/libmagic.so.1 /opt/homebrew/lib/libmagic.dylib /usr/local/lib/libmagic.dylib >/dev/null 2>&1; then \
	  echo "error: libmagic (the system library python-magic needs) is missing."; \
	  echo "  Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y libmagic1"; \
	  echo "  macOS:         brew install libmagic"; \
	  exit 1; \
	fi

lint: install
	$(VENV)/bin/ruff check keras_sanitize tests benchmarks fuzz examples scripts

typecheck: install
	$(VENV)/bin/mypy

unit: install
	mkdir -p $(TEST_KERAS_HOME)
	KERAS_HOME=$(TEST_KERAS_HOME) $(PY) -m pytest -n 2 --dist loadgroup -q -m "not torch$(if $(SLOW),, and not slow)" keras_sanitize tests
	rm -rf $(TEST_KERAS_HOME)

test: lint typecheck unit

# The torch-backend tests (tests marked `torch`). From PyPI alone `pip install torch` resolves the
# CUDA build (~2.5 GB); give pip the CPU wheel's index, e.g.
#   make test-torch TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_VERSION ?= 2.13.0
TORCH_PIP_ARGS ?=
test-torch: install
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) torch==$(TORCH_VERSION)
	mkdir -p $(TEST_KERAS_HOME)
	KERAS_HOME=$(TEST_KERAS_HOME) $(PY) -m pytest -n 2 --dist loadgroup -q -m torch tests
	rm -rf $(TEST_KERAS_HOME)

demo: install
	$(PY) examples/demo.py

bench: install
	$(PY) benchmarks/run.py

fuzz: install
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
