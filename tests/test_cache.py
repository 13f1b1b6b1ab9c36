"""Decision cache: hits, generations, LRU capacity, TTL, counters, key normalization."""

import time

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

WS = "/home/dev/app"


def test_second_identical_call_is_a_cache_hit(make_validator):
    v = make_validator(cache_size=16)
    first = v.check("Bash", {"command": "git status"}, cwd=WS)
    second = v.check("Bash", {"command": "git status"}, cwd=WS)
    assert (first.tier, first.cached) == ("rules", False)
    assert (second.tier, second.cached) == ("cache", True)
    assert (second.verdict, second.rule_id, second.reason) == (first.verdict, first.rule_id, first.reason)
    stats = v.cache_stats()
    assert stats["hits"] == 1 and stats["misses"] == 1 and stats["size"] == 1


def test_cwd_and_input_are_part_of_the_key(make_validator):
    v = make_validator(cache_size=16)
    v.check("Bash", {"command": "rm -rf build"}, cwd=WS)
    other_cwd = v.check("Bash", {"command": "rm -rf build"}, cwd="/")
    assert not other_cwd.cached
    other_cmd = v.check("Bash", {"command": "rm -rf build2"}, cwd=WS)
    assert not other_cmd.cached


def test_bash_description_does_not_split_the_cache(make_validator):
    v = make_validator(cache_size=16)
    v.check("Bash", {"command": "ls", "description": "list"}, cwd=WS)
    d = v.check("Bash", {"command": "ls", "description": "list files again"}, cwd=WS)
    assert d.cached


def test_other_tools_key_on_every_field(make_validator):
    v = make_validator(cache_size=16)
    v.check("Write", {"file_path": WS + "/a.txt", "content": "one"}, cwd=WS)
    assert not v.check("Write", {"file_path": WS + "/a.txt", "content": "two"}, cwd=WS).cached
    assert v.check("Write", {"content": "two", "file_path": WS + "/a.txt"}, cwd=WS).cached


def test_reload_makes_old_entries_misses(make_validator, tmp_path):
    v = make_validator(cache_size=16)
    assert v.check("Bash", {"command": "make setup"}, cwd=WS).verdict == "allow"
    assert v.check("Bash", {"command": "make setup"}, cwd=WS).cached
    rules = tmp_path / "local.toml"
    rules.write_text('[[rule]]\nid = "local.no-make"\nverdict = "deny"\nreason = "no make here"\nprogram = "make"\n')
    gen = v.reload(rules=[rules])
    assert gen == 2 == v.generation
    d = v.check("Bash", {"command": "make setup"}, cwd=WS)
    assert (d.verdict, d.rule_id, d.cached, d.generation) == ("deny", "local.no-make", False, 2)


def test_lru_capacity_evicts_least_recently_used(make_validator):
    v = make_validator(cache_size=2)
    v.check("Bash", {"command": "ls a"}, cwd=WS)
    v.check("Bash", {"command": "ls b"}, cwd=WS)
    v.check("Bash", {"command": "ls a"}, cwd=WS)          # a becomes most recent
    v.check("Bash", {"command": "ls c"}, cwd=WS)          # evicts b
    assert v.check("Bash", {"command": "ls a"}, cwd=WS).cached
    assert not v.check("Bash", {"command": "ls b"}, cwd=WS).cached
    assert v.cache_stats()["size"] == 2


def test_ttl_expires_entries(make_validator):
    v = make_validator(cache_size=8, cache_ttl=0.05)
    v.check("Bash", {"command": "ls"}, cwd=WS)
    assert v.check("Bash", {"command": "ls"}, cwd=WS).cached
    time.sleep(0.1)
    assert not v.check("Bash", {"command": "ls"}, cwd=WS).cached


def test_cache_size_zero_disables_cache(make_validator):
    v = make_validator(cache_size=0)
    for _ in range(3):
        assert not v.check("Bash", {"command": "ls"}, cwd=WS).cached
    assert v.cache_stats()["size"] == 0


def test_cache_key_is_stable_and_distinguishes(impl):
    engine = impl[2]
    k1 = engine.cache_key("Bash", {"command": "ls"}, WS, None)
    assert k1 == engine.cache_key("Bash", {"command": "ls"}, WS, None)
    assert k1 != engine.cache_key("Bash", {"command": "ls "}, WS, None)
    assert k1 != engine.cache_key("Bash", {"command": "ls"}, WS + "/x", None)
    assert k1 != engine.cache_key("Bash", {"command": "ls"}, WS, "/home/other")
    assert k1 != engine.cache_key("Read", {"command": "ls"}, WS, None)
    assert isinstance(k1, bytes)


# Pairs of different calls whose fields, joined with the encoding's separators, read the
# same: a key built from separators alone would give both one cache entry, so the second
# call would get the first's decision.
FORGED = [
    (("Bash", {"command": "rm -rf ../x\x1f/home/dev/app/sub"}, "/home/dev/app", None),
     ("Bash", {"command": "rm -rf ../x"}, "/home/dev/app/sub\x1f/home/dev/app", None)),
    (("Bash", {"command": "ls"}, "/w\x1f/home/u", None),
     ("Bash", {"command": "ls"}, "/w", "/home/u")),
    (("mcp__db__query", {"sql": "select 1\x1esql2\x1dsDROP TABLE users"}, WS, None),
     ("mcp__db__query", {"sql": "select 1", "sql2": "DROP TABLE users"}, WS, None)),
    (("mcp__a__b", {"a": ["x]", "y"]}, WS, None),
     ("mcp__a__b", {"a": ["x", "]y"]}, WS, None)),
    (("Write", {"file_path": "/w/a\x1e", "content": "x"}, WS, None),
     ("Write", {"file_path": "/w/a", "content": "\x1ex"}, WS, None)),
    (("Bash", {"command": "s2:ls"}, WS, None),
     ("Bash", {"command": ["ls"]}, WS, None)),
]


@pytest.mark.parametrize("first,second", FORGED)
def test_cache_key_cannot_be_forged_with_separators(impl, first, second):
    engine = impl[2]
    assert engine.cache_key(*first) != engine.cache_key(*second)


def test_long_cache_keys_are_digests_and_still_distinguish(impl):
    """An encoding past LONG_KEY bytes is replaced by a collision-resistant digest, so
    the cache holds a bounded key per entry."""
    from lighthouse._fast._keys import LONG_KEY
    engine = impl[2]
    big = {"file_path": "/w/a", "content": "x" * (2 * LONG_KEY)}
    k = engine.cache_key("Write", big, WS, None)
    assert len(k) == 33 and k[:1] == b"\x00"
    assert k != engine.cache_key("Write", dict(big, content=big["content"] + "y"), WS, None)
    assert len(engine.cache_key("Write", {"file_path": "/w/a", "content": "x"}, WS, None)) <= LONG_KEY


@pytest.mark.compiled
def test_cache_keys_agree_across_implementations():
    from conftest import twins
    (_, pure), (_, compiled) = twins()
    for tool, inp in [("Bash", {"command": "ls -la"}), ("Write", {"file_path": "/x", "content": "é\ud800"}),
                      ("mcp__a__b", {"n": [1, 2, {"z": None, "a": True}]}), ("Bash", {"command": "é"}),
                      ("Read", {"file_path": "/x" * 600}), ("Bash", {"command": ["ls"]}),
                      ("mcp__a__b", {"k": "v", "é": "x"})]:
        for home in (None, "/home/u", "/h\u00e9"):
            assert compiled.cache_key(tool, inp, WS, home) == pure.cache_key(tool, inp, WS, home)


def test_invalid_cache_settings_raise(make_validator):
    import pytest
    with pytest.raises(ValueError):
        make_validator(cache_size=-1)
    with pytest.raises(ValueError):
        make_validator(cache_ttl=0)
    with pytest.raises(ValueError):
        make_validator(fallback="maybe")


_KEY_TEXT = st.text(alphabet=st.sampled_from(list("ab_/.\n\x1d\x1e\x1f{}s") + ["é", "\ud800", "\u212a"]), max_size=6)
_INPUTS = st.dictionaries(_KEY_TEXT, st.one_of(_KEY_TEXT, st.integers(-3, 3), st.none(), st.lists(_KEY_TEXT, max_size=2)),
                          max_size=4)


@settings(max_examples=300, deadline=None)
@given(tool=st.sampled_from(["Write", "Read", "mcp__a__b", "Édit"]), inp=_INPUTS,
       cwd=st.sampled_from(["", WS, "/tmp/é"]), home=st.sampled_from([None, "/home/dev", "/home/é"]))
def test_cache_keys_agree_on_random_inputs(tool, inp, cwd, home):
    # The compiled engine writes the key of flat ASCII inputs without the canonical text.
    from conftest import EXPECT_COMPILED, IMPLS
    assert "compiled" in IMPLS or not EXPECT_COMPILED
    keys = {name: mods[1].cache_key(tool, inp, cwd, home) for name, mods in IMPLS.items()}
    assert len(set(keys.values())) == 1, keys


def test_checker_and_cache_settings_are_checked(impl):
    _, _, engine = impl
    e = engine.Engine([])
    with pytest.raises(ValueError, match="fallback must be allow, ask or deny"):
        engine.Checker(e, fallback="maybe")
    with pytest.raises(ValueError, match="capacity"):
        engine.Checker(e, cache_size=-1)
    with pytest.raises(ValueError, match="ttl"):
        engine.Checker(e, cache_ttl=0)
    c = engine.Checker(e, generation=7, cache_size=3, cache_ttl=2, fallback="deny", raw=True)
    assert (c.generation, c.fallback, c.raw, c.cache.capacity, c.cache.ttl) == (7, "deny", True, 3, 2.0)
    assert c.cache.stats() == {"size": 0, "capacity": 3, "hits": 0, "misses": 0}


def _cache(impl, size, ttl):
    _, _, engine = impl
    return engine.Checker(engine.Engine([]), cache_size=size, cache_ttl=ttl).cache


def test_live_entries_stay_until_capacity(impl):
    cache = _cache(impl, 1000, 600)
    for i in range(300):
        cache.put(b"k%d" % i, 1, i)
    assert len(cache) == 300 and cache.get(b"k0", 1) == 0


def test_expired_entries_leave_as_new_ones_come(impl):
    """Entries past their ttl are dropped from the least recently used end as new ones
    are put (two a put), so the cache holds what the last ttl seconds used rather than
    whatever once filled it to capacity."""
    cache = _cache(impl, 1000, 0.05)
    for i in range(100):
        cache.put(b"old%d" % i, 1, i)
    time.sleep(0.2)
    for i in range(60):
        cache.put(b"new%d" % i, 1, i)
    # The 100 expired entries are gone after 50 puts; some new ones may have expired too
    # on a slow machine, never more than were put.
    assert len(cache) <= 60
    assert all(cache.get(b"old%d" % i, 1) is None for i in range(100))


def test_entries_of_an_older_generation_leave_as_new_ones_come(impl):
    cache = _cache(impl, 1000, 600)
    for i in range(100):
        cache.put(b"g1-%d" % i, 1, i)
    for i in range(60):
        cache.put(b"g2-%d" % i, 2, i)
    assert len(cache) == 60
    assert cache.get(b"g2-0", 2) == 0 and cache.get(b"g1-99", 1) is None


def test_a_recently_used_entry_is_not_dropped_while_live(impl):
    cache = _cache(impl, 1000, 600)
    cache.put(b"a", 1, "a")
    cache.put(b"b", 1, "b")
    assert cache.get(b"a", 1) == "a"
    for i in range(10):
        cache.put(b"c%d" % i, 1, i)
    assert len(cache) == 12 and cache.get(b"b", 1) == "b"
