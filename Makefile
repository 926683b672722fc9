# The two commands of the README: `make demo` and `make test`.
# `make results` regenerates every figure of the README (hours); `make results-quick` checks that
# pipeline at a tiny size (about 2 minutes), changing no file. `make mutants`: mutation testing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow results results-quick mutants bench clean

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

# Mutation testing of every file mapped in benchmarks/mutation.py against its fast tests (all ~7400
# mutants: days on 2 cores; not in `make test`). Writes benchmarks/results/mutation.md (and .json).
# MUTANTS_ARGS="--max-mutants 25": the seeded, stratified sample behind the issue #12 figure (~1 h);
# add "--files F --update" to re-run one file and keep the others' rows.
mutants: $(STAMP)
	$(BIN)/pip install -q -e ".[mutation]"
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/mutation.py $(MUTANTS_ARGS)

clean:
	rm -rf $(VENV) results
