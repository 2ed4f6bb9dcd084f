# One command installs everything into a venv and runs the tests: `make test`.
# Every step is idempotent; pins live in requirements/.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
REQ := requirements
INSTALLED := $(VENV)/.sapa-mm-installed
EXT_BUILT := build/.ext-built
OPS_SOURCES := $(shell find ops -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh')
PYTEST_ARGS ?=

.PHONY: install ext test clean

install: $(INSTALLED) $(EXT_BUILT)

# torch first (the pinned CPU build here), then mmcv built from source against
# it, then the OpenMMLab packages and sapa-mm itself (editable, pure Python:
# the kernels are built by the `ext` step below).
$(INSTALLED): $(wildcard $(REQ)/*.txt) setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r $(REQ)/torch.txt
	$(PIP) install -r $(REQ)/build.txt
	MMCV_WITH_OPS=1 MAX_JOBS=$$(nproc) $(PIP) install --no-build-isolation \
		-c $(REQ)/constraints.txt -r $(REQ)/mmcv.txt
	$(PIP) install -c $(REQ)/constraints.txt -r $(REQ)/runtime.txt \
		-r $(REQ)/tests.txt
	SAPA_MM_WITH_OPS=0 $(PIP) install --no-build-isolation --no-deps -e .
	touch $@

# The compiled kernels, sapa_mm/_ext*.so, rebuilt when ops/ changes.
ext: $(EXT_BUILT)
$(EXT_BUILT): $(INSTALLED) setup.py $(OPS_SOURCES)
	$(PY) setup.py build_ext --inplace
	$(PY) -c "import sapa_mm; assert sapa_mm.HAS_EXT, 'sapa_mm._ext did not build'"
	mkdir -p build && touch $@

test: install
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean:
	rm -rf build sapa_mm/_ext*.so *.egg-info
