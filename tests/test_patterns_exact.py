"""Literals in learned patterns: the values of options and subcommands that say where a
command acts (kept by the program tables of lighthouse._fast._shape_shared), and the words
an expert says must match exactly (ExpertAnswer.exact), on both shape kernels."""

from __future__ import annotations

import asyncio
import time

import pytest

from lighthouse.escalation import Escalation
from lighthouse.experts import ExpertAnswer, ExpertError
from lighthouse.experts.agent import answer_message
from lighthouse.experts.base import check_expert_answer
from lighthouse.experts.llm import AnswerRejected, parse_answer
from lighthouse.patterns import PatternBook, PatternTier, why_no_shape
from lighthouse.policy.input import RuleFacts

from serverkit import WS

HOME = "/home/dev"
SPECS = RuleFacts.shipped().spec


def shape(command, cwd=WS, home=HOME):
    return why_no_shape("Bash", {"command": command}, cwd, home, SPECS)[0]


# ------------------------------------------------------------------ the program tables

TABLE_SHAPES = [
    ("kubectl --context staging get pods", "kubectl get pods --context=staging"),
    ("kubectl --context=staging get pods", "kubectl get pods --context=staging"),
    ("kubectl -n prod get pods", "kubectl get pods -n=prod"),
    ("kubectl -nprod get pods", "kubectl get pods -n=prod"),
    ("terraform workspace select prod", "terraform workspace select prod"),
    ("terraform plan -out plan.tfplan", "terraform plan -out=<word>"),
    ("aws --profile prod s3 ls", "aws s3 ls --profile=prod"),
    ("docker -H ssh://prod.example.com ps", "docker ps -H=ssh://prod.example.com"),
    ("docker --context prod ps", "docker ps --context=prod"),
    ("helm --kube-context prod list", "helm list --kube-context=prod"),
    ("gcloud --project prod-1 compute instances list", "gcloud compute instances list --project=prod-1"),
    ("gcloud container clusters delete c1", "gcloud container clusters delete c1"),
    ("gcloud beta container clusters delete c1", "gcloud beta container clusters delete <word>"),
    ("az network vnet delete -n v1", "az network vnet delete -n=<word>"),
    ("kubectl config use-context prod", "kubectl config use-context prod"),
    ("kubectx prod", "kubectx prod"),
    ("psql -h db.prod -l", "psql -h=db.prod -l"),
]


@pytest.mark.parametrize("command,expected", TABLE_SHAPES)
def test_options_and_subcommands_naming_where_a_command_acts_keep_their_value(command, expected):
    assert shape(command) == expected


@pytest.mark.parametrize("command", ["kubectl --context $CTX get pods", "terraform workspace select $WS",
                                     "aws --profile=$P s3 ls", "kubectx $(cat ctx)"])
def test_an_unknown_literal_value_has_no_shape(command):
    assert shape(command) is None


def escalation(command, cwd=WS, why="miss"):
    return Escalation("Bash", {"command": command}, cwd, HOME, "agent", "s1", why, "", "", 1,
                      time.monotonic() + 5, "esc-1", ())


def decide(tier, command):
    a = asyncio.run(tier.decide(escalation(command)))
    return None if a is None else a.verdict


def test_a_pattern_learned_with_context_staging_never_answers_context_prod():
    tier = PatternTier(PatternBook(":memory:"), SPECS, background=False)
    for c in ("kubectl --context staging apply -f k8s/a.yaml", "kubectl --context=staging apply -f k8s/b.yaml"):
        tier.learner(escalation(c), [("e1", "allow", "shape", False, "staging is ours"),
                                     ("e2", "allow", "shape", False, "fine")])
    assert tier.book.counts()["active"] == 1
    assert decide(tier, "kubectl --context staging apply -f k8s/c.yaml") == "allow"
    for c in ("kubectl --context prod apply -f k8s/c.yaml", "kubectl --context=prod apply -f k8s/c.yaml",
              "kubectl apply -f k8s/c.yaml", "kubectl --context staging --context prod apply -f k8s/c.yaml",
              "kubectl --context 'staging ' apply -f k8s/c.yaml"):
        assert decide(tier, c) is None, c
    # Deep commands keep their verb: describe never answers delete.
    tier.learner(escalation("gcloud beta container clusters describe c1"),
                 [("alice", "allow", "shape", True, "read")])
    assert decide(tier, "gcloud beta container clusters describe c2") == "allow"
    assert decide(tier, "gcloud beta container clusters delete c2") is None
    tier.learner(escalation("terraform workspace select dev"), [("alice", "allow", "shape", True, "dev")])
    assert decide(tier, "terraform workspace select dev") == "allow"
    assert decide(tier, "terraform workspace select prod") is None


# ------------------------------------------------------------------ an expert's exact words

def learn(tier, command, verdict, exact=(), scope="shape", name="e1", person=False):
    tier.learner(escalation(command), [(name, verdict, scope, person, "because", tuple(exact))])


def test_an_experts_exact_words_are_kept_literal_and_checked_at_lookup():
    tier = PatternTier(PatternBook(":memory:"), SPECS, background=False)
    learn(tier, "zzdeploy staging data/a.csv", "allow", ["staging"], name="e1")
    p = learn(tier, "zzdeploy staging data/b.csv", "allow", ["staging"], name="e2")
    book = tier.book
    (p,) = book.patterns("active")
    assert (p.shape, p.generic, sorted(p.words)) == ("zzdeploy staging <ws-path>", "zzdeploy <word> <ws-path>",
                                                     ["staging"])
    assert decide(tier, "zzdeploy staging data/c.csv") == "allow"
    for c in ("zzdeploy prod data/c.csv", "zzdeploy staging2 data/c.csv", "zzdeploy Staging data/c.csv",
              "zzdeploy staging /etc/passwd"):
        assert decide(tier, c) is None, c
    # The example records the exact words.
    assert book.examples(p.id)[0]["call"]["exact"] == ["staging"]


def test_a_word_that_changes_nothing_teaches_no_pattern_of_the_shape():
    tier = PatternTier(PatternBook(":memory:"), SPECS, background=False)
    for name in ("e1", "e2"):
        learn(tier, "zzdeploy prod-eu data/a.csv", "allow", ["prod"], name=name)      # not an argument
        learn(tier, "zzdeploy prod-eu data/a.csv", "allow", ["prod-eu", "nope"], name=name)
        learn(tier, "rm -rf build", "allow", ["build"], name=name)                      # kept already
    assert tier.book.counts()["active"] == 0
    assert decide(tier, "zzdeploy prod-us data/a.csv") is None
    (p,) = [q for q in tier.book.patterns() if q.shape.startswith("zzdeploy")]
    assert "learned for this call only" in tier.book.examples(p.id)[0]["reason"]


def test_literal_and_generic_answers_disagreeing_retire_each_other():
    tier = PatternTier(PatternBook(":memory:"), SPECS, background=False)
    book = tier.book
    # A generic pattern, then an expert says prod is different: the generic one retires.
    learn(tier, "zzdeploy dev data/a.csv", "allow", name="e1")
    learn(tier, "zzdeploy qa data/a.csv", "allow", name="e2")
    assert decide(tier, "zzdeploy prod data/a.csv") == "allow"
    learn(tier, "zzdeploy prod data/a.csv", "ask", ["prod"], name="e3")
    assert decide(tier, "zzdeploy dev data/b.csv") is None
    states = {p.shape: p.state for p in book.patterns()}
    assert states == {"zzdeploy <word> <ws-path>": "retired", "zzdeploy prod <ws-path>": "pending"}
    # A literal pattern, then an answer without words for a call it matches: retired.
    tier = PatternTier(PatternBook(":memory:"), SPECS, background=False)
    learn(tier, "zzship staging data/a.csv", "allow", ["staging"], name="alice", person=True)
    assert decide(tier, "zzship staging data/b.csv") == "allow"
    learn(tier, "zzship qa data/b.csv", "deny", scope="call", name="e9")      # another word: no effect
    assert decide(tier, "zzship staging data/b.csv") == "allow"
    learn(tier, "zzship staging data/b.csv", "deny", scope="call", name="e9")
    assert decide(tier, "zzship staging data/b.csv") is None
    assert {p.shape: p.state for p in tier.book.patterns()}["zzship staging <ws-path>"] == "retired"


def test_a_literal_pattern_comes_before_the_generic_one_and_survives_a_reload(tmp_path):
    path = str(tmp_path / "p.db")
    tier = PatternTier(PatternBook(path), SPECS, background=False)
    learn(tier, "zzdeploy prod data/a.csv", "ask", ["prod"], name="alice", person=True)
    learn(tier, "zzdeploy dev data/a.csv", "ask", name="bob", person=True)     # agrees: both stand
    assert decide(tier, "zzdeploy prod data/b.csv") == "ask"
    tier.book.close()
    tier = PatternTier(PatternBook(path), SPECS, background=False)
    a = asyncio.run(tier.decide(escalation("zzdeploy prod data/c.csv")))
    assert a.decided_by == "pattern:1" and "zzdeploy prod <ws-path>" in a.reason
    assert asyncio.run(tier.decide(escalation("zzdeploy qa data/c.csv"))).decided_by == "pattern:2"
    tier.book.close()


def test_exact_words_through_the_sdk_the_checks_and_the_llm_answer():
    msg = answer_message("e1", ("allow", "fine", 0.9, False, "shape", ["staging"]))
    assert (msg.scope, list(msg.exact), msg.error) == ("shape", ["staging"], "")
    msg = answer_message("e1", {"verdict": "allow", "scope": "shape", "exact": ["a b"]})
    assert msg.error and not msg.verdict
    msg = answer_message("e1", {"verdict": "allow", "scope": "shape", "exact": "staging"})
    assert msg.error
    assert check_expert_answer(ExpertAnswer("allow", "r", scope="shape", exact=["x"])).exact == ("x",)
    for bad in (("",), ("x" * 257,), tuple("w%d" % i for i in range(17)), ("a\x1bb",), (3,)):
        with pytest.raises(ExpertError) as e:
            check_expert_answer(ExpertAnswer("allow", "r", scope="shape", exact=bad))
        assert e.value.cause == "invalid"
    a = parse_answer('{"verdict": "allow", "reason": "r", "confidence": 1, "scope": "shape", "exact": ["prod"]}')
    assert a.exact == ("prod",)
    with pytest.raises(AnswerRejected) as e:
        parse_answer('{"verdict": "allow", "reason": "r", "confidence": 1, "exact": [1]}')
    assert e.value.rejection == "bad_exact"


def test_the_console_types_exact_words_with_e():
    from lighthouse.experts.base import ExpertRequest
    from lighthouse.experts.console import ARM_DELAY, ConsoleState
    now = [100.0]
    state = ConsoleState("c1", "127.0.0.1:1", clock=lambda: now[0], scope="shape")

    async def go():
        req = ExpertRequest("e1", "Bash", {"command": "zzdeploy staging x"}, WS, deadline=now[0] + 30,
                            deadline_ms=30000)
        fut = asyncio.ensure_future(state.judge(req))
        await asyncio.sleep(0)
        state.key("e")
        for ch in "staging":
            state.key(ch)
        state.key("enter")
        assert "exact words kept: staging" in state.notes[-1][1]
        now[0] += ARM_DELAY
        state.key("a")
        answer = await fut
        assert (answer.verdict, answer.scope, answer.exact) == ("allow", "shape", ("staging",))

    asyncio.run(go())


def test_patterns_with_exact_words_are_bounded_per_shape():
    from lighthouse.patterns.book import MAX_LITERAL_PATTERNS
    tier = PatternTier(PatternBook(":memory:"), SPECS, background=False)
    for k in range(MAX_LITERAL_PATTERNS + 3):
        learn(tier, "zzdeploy env%d data/a.csv" % k, "allow", ["env%d" % k], name="alice", person=True)
    assert tier.book.counts()["active"] == MAX_LITERAL_PATTERNS and tier.book.refused == 3
    assert decide(tier, "zzdeploy env0 data/b.csv") == "allow"
    assert decide(tier, "zzdeploy env%d data/b.csv" % (MAX_LITERAL_PATTERNS + 1)) is None


def test_patterns_keeping_literals_are_not_promoted():
    from lighthouse.patterns.cli import PromotionError, rule_for
    tier = PatternTier(PatternBook(":memory:"), SPECS, background=False)
    learn(tier, "kubectl --context staging apply -f k8s/a.yaml", "allow", name="alice", person=True)
    learn(tier, "zzdeploy staging data/a.csv", "allow", ["staging"], name="alice", person=True)
    book = tier.book
    messages = []
    for p in book.patterns():
        with pytest.raises(PromotionError) as e:
            rule_for(p, book.examples(p.id), SPECS)
        messages.append(str(e.value))
    assert any("keeps the value of --context" in m for m in messages), messages
    assert any("keeps words an expert named exactly (staging)" in m for m in messages), messages
