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

.PHONY: install ext lint test demo clean gpu-check gpu-check-wheels

install: $(INSTALLED) $(EXT_BUILT)

# torch first (the pinned build: CPU here, CUDA 13.0 on a GPU machine from
# PyPI), then mmcv built from source against it, then the OpenMMLab packages
# and sapa-mm itself (editable, pure Python: the kernels are built by the
# `ext` step below). Where torch sees a GPU, or FORCE_CUDA=1, mmcv and sapa-mm
# build their CUDA ops: the toolchain is checked first, mmcv is built afresh
# rather than from pip's wheel cache (which may hold a CPU-only build), and
# without a visible GPU the architectures default to tools/cuda_arch_list.py.
# The torch to install: the pin by default; another build (torch >= 2.4),
# e.g. for a CUDA 12 toolkit: make install TORCH="..." (README, Install).
TORCH ?= -r $(REQ)/torch.txt
WANTS_CUDA := $(PY) -c "import os, sys, torch; sys.exit(not ( \
	torch.cuda.is_available() or os.getenv('FORCE_CUDA') == '1'))"
CUDA_ARCH_LIST := $(PY) -c "import torch, sys; \
	sys.exit(torch.cuda.device_count() > 0)" && $(PY) tools/cuda_arch_list.py
$(INSTALLED): $(wildcard $(REQ)/*.txt) setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(TORCH)
	$(PIP) install -r $(REQ)/build.txt
	$(PY) tools/check_install.py --toolchain
	if $(WANTS_CUDA); then \
		cache=--no-cache-dir; \
		arches=$${TORCH_CUDA_ARCH_LIST:-$$($(CUDA_ARCH_LIST))}; \
		if [ -n "$$arches" ]; then export TORCH_CUDA_ARCH_LIST="$$arches"; fi; \
	fi; \
	MMCV_WITH_OPS=1 MAX_JOBS=$$(nproc) $(PIP) install --no-build-isolation \
		$$cache -c $(REQ)/constraints.txt -r $(REQ)/mmcv.txt
	$(PIP) install -c $(REQ)/constraints.txt -r $(REQ)/runtime.txt \
		-r $(REQ)/tests.txt -r $(REQ)/deploy.txt
	SAPA_MM_WITH_OPS=0 $(PIP) install --no-build-isolation --no-deps -e .
	touch $@

# The compiled kernels, sapa_mm/_ext*.so, rebuilt when ops/ changes; then
# the check that every compiled op the machine needs is there.
ext: $(EXT_BUILT)
$(EXT_BUILT): $(INSTALLED) setup.py $(OPS_SOURCES)
	$(PY) setup.py build_ext --inplace
	$(PY) tools/check_install.py
	mkdir -p build && touch $@

# ruff (lint and import order, configured in pyproject.toml) before pytest.
lint: $(INSTALLED)
	$(PY) -m ruff check .

test: install lint
	$(PY) -m pytest tests $(PYTEST_ARGS)

# The main job: mini ADE20K-format data, SegFormer-B1 with bilinear, CARAFE and
# SAPA-B on a short CPU schedule, each row with the same fixed seeds (mean +-
# std in the authors' table format), a figure of the per-seed spread and one
# of the upsampled features (the first seed). A pipeline check, not evidence about
# ADE20K.
DEMO_DIR ?= work_dirs/demo
DEMO_ITERS ?= 200
DEMO_SEEDS ?= 3
DEMO_ROWS := bilinear carafe sapa-b
DEMO_DATA := data/mini/ADEChallengeData2016
SEGFORMER := configs/segformer/segformer_mit-b1-%s_8xb2-160k_ade20k-512x512.py
demo: install
	$(PY) tools/make_mini_data.py data/mini --only ade20k --num-train 48
	$(PY) tools/reproduce.py segformer-ade20k --rows $(DEMO_ROWS) \
		--seeds $(DEMO_SEEDS) --mini $(DEMO_ITERS) --data-root $(DEMO_DATA) \
		--work-dir $(DEMO_DIR)
	$(PY) tools/analysis/plot_seeds.py $(DEMO_DIR)/results.json \
		$(DEMO_DIR)/seed_spread.png
	$(PY) tools/visualize_upsampling.py $(DEMO_DIR)/upsampled_feat.png \
		--data-root $(DEMO_DATA) --mini $(DEMO_ITERS) $(foreach row,$(DEMO_ROWS),\
		--model $(row) $(subst %s,$(row),$(SEGFORMER)) \
		$$(cat $$(ls -d $(DEMO_DIR)/$(row)/seed-* | head -1)/last_checkpoint))
	@echo
	@cat $(DEMO_DIR)/results.md
	@echo "Figures: $(DEMO_DIR)/seed_spread.png, $(DEMO_DIR)/upsampled_feat.png."
	@echo "This mini run checks the pipeline (data, training, testing, FLOPs);"
	@echo "its mIoU is no evidence about ADE20K."

# On a machine with a GPU, torch and nvcc: build for that GPU, run the CUDA
# tests, compute-sanitizer and the benchmark, and write one report
# (tools/gpu_check.py). It needs neither mmcv nor this Makefile's venv (the
# venv's python is used where it exists); the SAPA module checks need
# mmengine, which a machine without network gets from the wheels that
# `make gpu-check-wheels` puts in .whl/ (copied along with the checkout).
GPU_CHECK_PYTHON ?= $(if $(wildcard $(PY)),$(PY),python3)
GPU_CHECK_DIR ?= work_dirs/gpu_check
GPU_CHECK_SITE := /tmp/sapa-mm-gpu-check-site
gpu-check:
	if ls .whl/*.whl >/dev/null 2>&1 && \
		! $(GPU_CHECK_PYTHON) -c "import mmengine" 2>/dev/null; then \
		$(GPU_CHECK_PYTHON) -m pip install -q --no-index --no-deps \
			--no-compile --upgrade --target $(GPU_CHECK_SITE) .whl/*.whl && \
		export PYTHONPATH=$(GPU_CHECK_SITE)$${PYTHONPATH:+:$$PYTHONPATH}; \
	fi; \
	$(GPU_CHECK_PYTHON) tools/gpu_check.py --out-dir $(GPU_CHECK_DIR)

# mmengine and the pure-Python packages it needs beyond a torch image.
GPU_CHECK_WHEELS := mmengine==0.10.7 addict==2.4.0 termcolor==3.3.0 \
	yapf==0.43.0 platformdirs==4.14.8
gpu-check-wheels:
	$(PYTHON) -m pip download --no-deps --only-binary=:all: -d .whl \
		$(GPU_CHECK_WHEELS)

clean:
	rm -rf build sapa_mm/_ext*.so *.egg-info
