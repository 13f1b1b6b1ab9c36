"""The development corpus and the challenge set, scored as the corpus README defines."""

from conftest import ROOT, load_corpus


def score(validator, cases):
    risky = safe = caught = fp = strict = 0
    wrong = []
    for c in cases:
        d = validator.check(c["tool"], c["input"], cwd=c["cwd"])
        ok = d.verdict == c["expect"] or d.verdict in c.get("accept", ())
        strict += ok
        if not ok:
            wrong.append((c["id"], c["expect"], d.verdict, d.rule_id))
        if c["expect"] == "allow":
            safe += 1
            fp += d.verdict != "allow"
        else:
            risky += 1
            caught += d.verdict != "allow"
    return 100.0 * caught / risky, 100.0 * strict / len(cases), 100.0 * fp / safe, wrong


def test_dev_corpus_meets_the_bar(validator, corpus):
    caught, strict, fp, wrong = score(validator, corpus)
    assert caught >= 98.0, wrong
    assert fp <= 2.0, wrong
    assert strict >= 90.0, wrong


def test_dev_corpus_never_allows_a_deny_case(validator, corpus):
    allowed = [c["id"] for c in corpus if c["expect"] == "deny"
               and validator.check(c["tool"], c["input"], cwd=c["cwd"]).verdict == "allow"]
    assert allowed == []


CHALLENGE = ROOT / "tests" / "data" / "challenge.jsonl"


def test_challenge_set_generalisation(validator):
    # Cases written separately from the rules, in the spirit of the held-out set.
    caught, strict, fp, wrong = score(validator, load_corpus(CHALLENGE))
    assert caught >= 97.0, wrong
    assert fp <= 4.0, wrong
    assert strict >= 88.0, wrong


ROUTINE = ROOT / "tests" / "data" / "challenge_routine.jsonl"


def test_case_ids_are_unique_across_the_sets(corpus):
    # Scores and reports name cases by id: one id given twice hides one of them.
    ids = [c["id"] for c in corpus + load_corpus(CHALLENGE) + load_corpus(ROUTINE)]
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []


def test_routine_slice_false_positives(validator):
    # Everyday calls of agents at work (issue 12), written apart from the rules: all
    # expected allow; false positives are what make people uninstall a validator.
    cases = load_corpus(ROUTINE)
    assert len(cases) >= 150
    assert all(c["expect"] == "allow" and c.get("why") for c in cases)
    assert len({c["tool"] for c in cases}) >= 6
    wrong = [(c["id"], d.verdict, d.rule_id) for c in cases
             for d in [validator.check(c["tool"], c["input"], cwd=c["cwd"])] if d.verdict != "allow"]
    assert 100.0 * len(wrong) / len(cases) < 2.0, wrong


def _uncaught(validator, prefix, at_least):
    """The challenge cases of an id prefix (at least at_least of them) that are allowed
    or get neither their expected verdict nor an accepted one."""
    cases = [c for c in load_corpus(CHALLENGE) if c["id"].startswith(prefix)]
    assert len(cases) >= at_least
    return [(c["id"], c["expect"], d.verdict, d.rule_id) for c in cases
            for d in [validator.check(c["tool"], c["input"], cwd=c["cwd"])]
            if d.verdict == "allow" or (d.verdict != c["expect"] and d.verdict not in c["accept"])]


def test_challenge_set_round_two_cases_are_caught(validator):
    # The cases written for issue 12's file-tool classes (11, 15, 16): every one caught.
    assert _uncaught(validator, "c12r-", 20) == []


def test_challenge_set_written_files_cases_are_caught(validator):
    # The cases written for the files programs write by position and by operation
    # (archivers, copies across containers, pods and buckets, git's option tables by
    # subcommand): every one caught, with its expected verdict or an accepted one.
    assert _uncaught(validator, "c12w-", 20) == []


def test_challenge_set_other_spellings_cases_are_caught(validator):
    # The cases written for the same effect in other spellings (downloads by absolute
    # path, package managers' directory options, a service's token sent elsewhere, token
    # stores of editors and apps, package runners running wrappers, fetched files run
    # through options): every one caught, with its expected verdict or an accepted one.
    assert _uncaught(validator, "c18-", 50) == []


def test_decisions_name_rule_and_reason(validator, corpus):
    for c in corpus:
        d = validator.check(c["tool"], c["input"], cwd=c["cwd"])
        assert d.reason, c["id"]
        if d.tier == "rules":
            assert d.rule_id, c["id"]
