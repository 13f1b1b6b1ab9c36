# Lighthouse: `make test` sets up .venv (package + compiled extensions + test tools) and
# runs the suite; `make bench` runs the benchmarks.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := pyproject.toml setup.py $(wildcard lighthouse/_fast/*.pyx lighthouse/_fast/*.pxd)

.PHONY: install test test-pure bench clean

install: $(STAMP)

$(STAMP): $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -c "import lighthouse._fast as f; assert f.COMPILED, 'compiled extension did not build'"
	touch $@

test: install
	$(BIN)/python -m pytest -q

test-pure: install
	LIGHTHOUSE_NO_EXTENSIONS=1 $(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/fast.py

clean:
	rm -rf build $(VENV) *.egg-info lighthouse/_fast/*.c lighthouse/_fast/*.so lighthouse/_fast/*.html
