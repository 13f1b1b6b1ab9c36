# Lighthouse: `make test` sets up .venv (package + compiled extensions + test tools) and
# runs the suite; `make bench` runs the benchmarks; `make serve` starts the gRPC server.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# 1: rebuild the extensions with a gcc profile of a training workload (tools/pgo.py)
PGO ?= 1
# One stamp per build kind: switching between them rebuilds the extensions.
STAMP := $(VENV)/.installed-pgo$(PGO)
SOURCES := pyproject.toml setup.py tools/pgo.py lighthouse/_fast/_shell_shared.py lighthouse/_fast/_shell_scan.py lighthouse/_fast/_content.py lighthouse/_fast/_side.py \
	lighthouse/_fast/_inline.py lighthouse/_fast/_toolinput.py lighthouse/_fast/_view.py lighthouse/_fast/_sql.py \
	lighthouse/hooks/native/lighthouse-hook.c \
	$(wildcard lighthouse/_fast/*.pyx lighthouse/_fast/*.pxd lighthouse/audit/*.pyx)

.PHONY: install lint test check test-pure bench bench-grpc serve protos clean

# The suite runs on every core (pytest-xdist), a test file to a worker: tests and servers
# take ports of the kernel's choice and private directories. JOBS=0 runs it in one
# process, in order (for debugging: `make test JOBS=0`, or `pytest -p no:xdist`).
JOBS ?= auto
PYTEST_JOBS = -n $(JOBS) --dist loadfile

install: $(STAMP)

$(STAMP): $(SOURCES)
	@# the audit log's compiled hash chain and commits (lighthouse/audit/_chain_c.pyx) link
	@# libcrypto and libsqlite3
	test -e /usr/include/openssl/sha.h || tools/debian-install libssl-dev "the build of lighthouse.audit._chain_c"
	test -e /usr/include/sqlite3.h || tools/debian-install libsqlite3-dev "the build of lighthouse.audit._chain_c"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# The stamp takes the build's start time: a source edited while it runs is rebuilt next time.
	touch $(VENV)/.building
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	if [ "$(PGO)" = 1 ]; then $(BIN)/python tools/pgo.py; fi
	$(BIN)/python -c "import lighthouse._fast as f; assert f.COMPILED, 'compiled extension did not build'"
	$(BIN)/python -c "import lighthouse.audit._chain as c; assert c.COMPILED, 'compiled audit chain did not build'"
	test -x lighthouse/hooks/native/lighthouse-hook || test -n "$$LIGHTHOUSE_NO_NATIVE_HOOK"
	rm -f $(VENV)/.installed*
	mv $(VENV)/.building $@

# Lint first (ruff for Python, cython-lint for the compiled modules, mypy on the pure
# twins, the server and the slow path: pyproject.toml's [tool.mypy]), then the suite.
lint: install
	$(BIN)/ruff check .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/cython-lint lighthouse/_fast/*.pyx lighthouse/_fast/*.pxd lighthouse/audit/*.pyx
	$(BIN)/mypy

# The whole suite on the build users install (profiled): what CI runs. The slowest
# tests are listed at the end, to keep the suite's time in view.
test: install lint
	$(BIN)/python -m pytest -q --durations=25 $(PYTEST_JOBS)

# The everyday loop: a plain build (no profiling run) and the suite without the tests
# marked slow (servers in subprocesses, benchmarks, README commands); `make test` runs them.
check:
	$(MAKE) PGO=0 install lint
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_JOBS)

test-pure: install
	LIGHTHOUSE_NO_EXTENSIONS=1 $(BIN)/python -m pytest -q $(PYTEST_JOBS)

# h2load (Debian's nghttp2-client) for bench/h2load.sh, when apt can install it.
bench: install
	command -v h2load >/dev/null || (command -v apt-get >/dev/null && apt-get install -y -q nghttp2-client) \
		|| echo "h2load is not installed: bench/h2load.sh needs Debian's nghttp2-client"
	$(BIN)/python bench/fast.py

bench-grpc: install
	$(BIN)/python bench/agents.py --fast-tiers

# The gRPC server on its defaults: 127.0.0.1:50051, metrics on 127.0.0.1:9464.
# Pass options with ARGS, e.g. `make serve ARGS="--port 50052 --workers 2"`.
serve: install
	$(BIN)/lighthouse serve $(ARGS)

# Regenerate the committed stubs in lighthouse/v1/ after editing proto/lighthouse/v1/*.proto.
protos: install
	$(BIN)/python proto/generate.py

clean:
	rm -rf build $(VENV) *.egg-info lighthouse/_fast/*.c lighthouse/_fast/*.so lighthouse/_fast/*.html \
	lighthouse/hooks/native/lighthouse-hook
