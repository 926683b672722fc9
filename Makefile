# The two commands of the README: `make demo` and `make test`.
# `make results` regenerates every figure of the README (hours); `make results-quick` checks that
# pipeline at a tiny size (about 2 minutes), changing no file.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow results results-quick bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip wheel
	$(BIN)/pip install "torch==2.9.1" "torchvision==0.24.1" "torchaudio==2.9.1"
	$(BIN)/pip install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/selfrefresh demo --out results/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

results: $(STAMP)
	$(BIN)/python benchmarks/readme_tables.py

results-quick: $(STAMP)
	$(BIN)/python benchmarks/readme_tables.py --quick

clean:
	rm -rf $(VENV) results
