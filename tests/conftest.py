"""Shared fixtures. Tests never import an implementation directly: the `impl` fixture is
parametrized over the pure twin and the compiled module, so every test runs on both."""

from __future__ import annotations

import atexit
import importlib
import json
import os
import pathlib
import shutil
import tempfile

import pytest

# `lighthouse serve` records its decisions under the user's data directory, and serves
# its local socket (with its admin secret beside it) in the user's runtime directory,
# unless told otherwise: the servers and hooks the tests start use private ones instead,
# one pair per process (the suite runs on several workers, each a process with its own).
# Set before lighthouse is imported: lighthouse.localsock reads the default at import.
_DATA_HOME = tempfile.mkdtemp(prefix="lh-test-data-")
_RUNTIME_DIR = tempfile.mkdtemp(prefix="lh-run-")
os.environ["XDG_DATA_HOME"] = _DATA_HOME
os.environ["XDG_RUNTIME_DIR"] = _RUNTIME_DIR
atexit.register(shutil.rmtree, _DATA_HOME, True)
atexit.register(shutil.rmtree, _RUNTIME_DIR, True)

from lighthouse import _fast  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "dev.jsonl"
if not CORPUS.exists():
    CORPUS = ROOT / "tests" / "data" / "dev.jsonl"

# The server fixtures (rules_dir, pki) of serverkit are available to every test file.
pytest_plugins = ["serverkit"]


@pytest.fixture(autouse=True)
def _own_spool(tmp_path_factory, monkeypatch):
    """Each test its own hook spool (lighthouse.audit.spool): the decisions a hook makes
    with no server answering in one test are not ingested by another test's server."""
    monkeypatch.setenv("LIGHTHOUSE_SPOOL", str(tmp_path_factory.mktemp("spool") / "spool.jsonl"))

IMPLS = _fast.implementations()
if _fast.NO_EXTENSIONS:
    IMPLS.pop("compiled", None)
# Compiled extensions are expected unless explicitly disabled: a missing build must fail.
EXPECT_COMPILED = not _fast.NO_EXTENSIONS


def _impl_params():
    params = [pytest.param("pure", id="pure")]
    params.append(pytest.param("compiled", id="compiled", marks=pytest.mark.compiled))
    return params


@pytest.fixture(params=_impl_params())
def impl(request):
    """(name, shell module, engine module) of one implementation."""
    name = request.param
    if name not in IMPLS:
        if EXPECT_COMPILED:
            pytest.fail("the compiled extension is expected but not importable; "
                        "build it with `pip install -e .` or set LIGHTHOUSE_NO_EXTENSIONS=1")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    shell, engine = IMPLS[name]
    return name, shell, engine


def twins():
    """((shell, engine) of the pure twin, (shell, engine) of the compiled module), for
    tests that compare them; fails when the compiled module is expected but missing."""
    if "compiled" not in IMPLS:
        if EXPECT_COMPILED:
            pytest.fail("the compiled extension is expected but not importable")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    return IMPLS["pure"], IMPLS["compiled"]


def compiled_build(module):
    """The compiled build of a shared module of lighthouse._fast (``module``: its name,
    as ``_toolinput_c``); fails when the compiled modules are expected but missing."""
    if "compiled" not in IMPLS:
        if EXPECT_COMPILED:
            pytest.fail("the compiled extension is expected but not importable")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    return importlib.import_module("lighthouse._fast." + module)


@pytest.fixture
def make_validator(impl, monkeypatch):
    """Build a lighthouse.Validator on the implementation under test."""
    from lighthouse import validator as validator_mod

    _, shell, engine = impl

    class _Fast:
        pass

    fake = _Fast()
    fake.engine = engine
    fake.shell = shell
    fake.COMPILED = impl[0] == "compiled"
    monkeypatch.setattr(validator_mod, "_fast", fake)

    def make(*args, **kwargs):
        return validator_mod.Validator(*args, **kwargs)

    return make


_SHARED_VALIDATORS = {}


@pytest.fixture
def shared_validator(impl, make_validator):
    """shared_validator(**kwargs): make_validator(**kwargs) (hashable arguments, the
    cache off), built once per implementation and arguments for the whole session:
    loading and compiling every pack costs 0.15-0.4 s, and the detection tables run a
    thousand cases against the same policy. For tests that only decide calls with it
    (no reload)."""
    def get(**kwargs):
        assert kwargs.get("cache_size") == 0, "a shared validator has no cache"
        key = (impl[0], tuple(sorted(kwargs.items())))
        v = _SHARED_VALIDATORS.get(key)
        if v is None:
            v = _SHARED_VALIDATORS[key] = make_validator(**kwargs)
        return v

    return get


@pytest.fixture
def validator(shared_validator):
    """The shipped packs without cache on the implementation under test (shared)."""
    return shared_validator(cache_size=0)


def load_corpus(path=CORPUS):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="session")
def corpus():
    if not CORPUS.exists():
        pytest.fail("development corpus not found at %s" % CORPUS)
    return load_corpus()


WS = "/home/dev/app"


@pytest.fixture
def sockdir():
    """A short private directory for Unix sockets (AF_UNIX paths are limited to ~107
    bytes, too short for tmp_path)."""
    d = tempfile.mkdtemp(prefix="lh-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------ PostgreSQL

@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL server of the session's own (tests/pgkit.py), stopped at the end.
    Skips, saying why, where PostgreSQL or psycopg is not installed; fails instead when
    LIGHTHOUSE_REQUIRE_POSTGRES=1 (.ci/run sets it once it has installed the package)."""
    import pgkit
    why = pgkit.unavailable()
    if why:
        if os.environ.get("LIGHTHOUSE_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (LIGHTHOUSE_REQUIRE_POSTGRES=1) but " + why)
        pytest.skip("no PostgreSQL for the tests: " + why)
    cluster = pgkit.Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


_pg_databases = iter(range(1, 1 << 30))


@pytest.fixture
def pg_dsn(pg_cluster):
    """The DSN of a new, empty database for one test."""
    return pg_cluster.database("t%d" % next(_pg_databases))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """An audit log that does not exist yet (tests/auditkit.py): an SQLite file in a new
    directory, or a new PostgreSQL database."""
    from auditkit import Store
    if request.param == "sqlite":
        return Store("sqlite", str(tmp_path / "logs" / "audit.db"))
    return Store("postgresql", request.getfixturevalue("pg_dsn"))


@pytest.fixture
def loop():
    """A running asyncio loop on a thread (test_experts.LoopThread), for experts and
    agents that run beside a test; it must log no unhandled exception."""
    from test_experts import LoopThread
    lt = LoopThread()
    yield lt
    lt.close()
    assert not lt.errors, "the agents' loop logged unhandled exceptions: %r" % lt.errors


@pytest.fixture
def stub_of():
    """stub_of(server, metadata=None): a Validator stub on a channel of its own to a
    served test server (closed at the end), sending metadata (a token) when given."""
    import grpc

    from lighthouse.v1 import validation_pb2_grpc
    channels = []

    def make(server, metadata=None):
        ch = grpc.insecure_channel(server.address)
        channels.append(ch)
        stub = validation_pb2_grpc.ValidatorStub(ch)
        if metadata is None:
            return stub

        class WithToken:
            def Validate(self, request, **kw):
                return stub.Validate(request, metadata=metadata, **kw)
        return WithToken()

    yield make
    for ch in channels:
        ch.close()
