# The two commands of the README. Both create .venv when it is missing and are safe to rerun.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,classify,torch,viz
SHARED ?= $(abspath ../shared)
STAMP := $(VENV)/.faceprint-installed

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	FACEPRINT_SHARED=$(SHARED) $(PY) examples/demo.py --out out/demo

test: $(STAMP)
	FACEPRINT_SHARED=$(SHARED) $(PY) -m pytest -q

clean:
	rm -rf $(VENV) out .pytest_cache
