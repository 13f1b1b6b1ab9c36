"""lighthouse.vocab and lighthouse.errors: the one vocabulary of decisions and the one
error hierarchy, importable from anywhere without a cycle."""

import subprocess
import sys

import pytest

from lighthouse import errors, vocab
from lighthouse.v1 import validation_pb2 as pb

from conftest import IMPLS, ROOT


def test_enum_values_match_the_generated_module():
    assert [pb.Verdict.Value("VERDICT_" + name.upper()) for name in vocab.VERDICT_NAMES] == \
        list(range(len(vocab.VERDICT_NAMES)))
    assert [pb.Tier.Value("TIER_" + name.upper()) for name in vocab.TIER_NAMES] == list(range(len(vocab.TIER_NAMES)))
    assert len(pb.Verdict.keys()) == len(vocab.VERDICT_NAMES) and len(pb.Tier.keys()) == len(vocab.TIER_NAMES)
    assert vocab.VERDICT_CODES == {"allow": pb.VERDICT_ALLOW, "ask": pb.VERDICT_ASK, "deny": pb.VERDICT_DENY}
    assert vocab.TIER_CODES["fallback"] == pb.TIER_FALLBACK == vocab.TIER_FALLBACK
    assert vocab.TIER_CODES["pattern"] == pb.TIER_PATTERN == vocab.TIER_PATTERN
    assert vocab.outcome_index(pb.VERDICT_DENY, pb.TIER_PATTERN) == vocab.OUTCOMES - 1


@pytest.mark.parametrize("name", sorted(IMPLS))
def test_the_engines_speak_the_same_words(name):
    # The hot path keeps its own constants for now; they must be these.
    engine = IMPLS[name][1]
    assert engine.VERDICTS == vocab.RAW_VERDICTS
    assert (engine.ALLOW, engine.ASK, engine.DENY, engine.MISS) == tuple(range(4))


def test_the_users_of_the_vocabulary_share_it():
    from lighthouse import client, localsock, metrics
    from lighthouse.rules import loader
    from lighthouse.server import core
    assert localsock.VERDICTS is loader.VERDICTS is vocab.VERDICTS
    assert metrics.VERDICT_NAMES is vocab.VERDICT_NAMES and metrics.TIER_NAMES is vocab.TIER_NAMES
    assert core.VERDICT_CODES is vocab.VERDICT_CODES and core.TIER_CODES is vocab.TIER_CODES
    assert set(client.VERDICTS.values()) == set(vocab.VERDICTS) and set(client.TIERS.values()) == set(vocab.TIERS)


@pytest.mark.parametrize("module", ["lighthouse.vocab", "lighthouse.errors"])
def test_imports_nothing(module):
    # So that lighthouse._fast and the hook can import it: no cycle, no start-up cost.
    code = ("import sys; before = set(sys.modules); import %s; "
            "print(sorted(m for m in set(sys.modules) - before if m not in ('lighthouse', '%s')))" % (module, module))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_every_error_derives_from_the_base_where_it_is_imported_from():
    import lighthouse
    from lighthouse import client, localsock
    from lighthouse.rules import loader
    from lighthouse.server import app, auth, core, local, service
    places = {"RuleError": (lighthouse, loader), "ConfigError": (app,), "TokenFileError": (auth,),
              "ReloadError": (service, app), "ReloadThrottled": (service,), "CallRejected": (core, service),
              "CallError": (client,), "Unavailable": (localsock, client), "Undecided": (localsock,),
              "SocketInUse": (local,)}
    assert set(places) == set(errors.__all__) - {"LighthouseError"}
    for name, modules in places.items():
        cls = getattr(errors, name)
        assert issubclass(cls, errors.LighthouseError), name
        for m in modules:
            assert getattr(m, name) is cls, (m.__name__, name)
    assert lighthouse.LighthouseError is errors.LighthouseError
    assert issubclass(errors.RuleError, ValueError) and issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.TokenFileError, ValueError) and issubclass(errors.SocketInUse, OSError)
