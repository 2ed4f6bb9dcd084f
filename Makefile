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

.PHONY: install ext test demo clean

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

# The main job: mini ADE20K-format data, SegFormer-B1 with bilinear, CARAFE and
# SAPA-B on a short CPU schedule, the table in the authors' format and a figure
# of the upsampled features. A pipeline check, not evidence about ADE20K.
DEMO_DIR ?= work_dirs/demo
DEMO_ITERS ?= 200
DEMO_DATA := data/mini/ADEChallengeData2016
SEGFORMER := configs/segformer/segformer_mit-b1-%s_8xb2-160k_ade20k-512x512.py
demo: install
	$(PY) tools/make_mini_data.py data/mini --only ade20k --num-train 48
	$(PY) tools/reproduce.py segformer-ade20k --rows bilinear carafe sapa-b \
		--mini $(DEMO_ITERS) --data-root $(DEMO_DATA) --work-dir $(DEMO_DIR)
	$(PY) tools/visualize_upsampling.py $(DEMO_DIR)/upsampled_feat.png \
		--data-root $(DEMO_DATA) --mini $(DEMO_ITERS) $(foreach row,bilinear carafe sapa-b,\
		--model $(row) $(subst %s,$(row),$(SEGFORMER)) $$(cat $(DEMO_DIR)/$(row)/last_checkpoint))
	@echo
	@cat $(DEMO_DIR)/results.md
	@echo "Figure: $(DEMO_DIR)/upsampled_feat.png. This mini run checks the pipeline"
	@echo "(data, training, testing, FLOPs); its mIoU is no evidence about ADE20K."

clean:
	rm -rf build sapa_mm/_ext*.so *.egg-info
