"""Every shipped rule carries its own evidence: the `examples` in its pack file.

One test per rule id (on both implementations), so that a failure names the rule. A rule
must have at least one example that it decides itself; every example must get its
expected verdict, from the rule that must decide it (see `example_decider`: the rule
itself for an example with its own verdict, the example's `rule` when given, and any
rule for a near miss with another verdict). `lighthouse rules test` applies the same
check to a rule file.
"""

from __future__ import annotations

import pytest

from lighthouse.cli import main
from lighthouse.rules.loader import (example_call, example_decider, example_failure, load_policy,
                                     pack_paths)

SHIPPED = load_policy().rules

def _label(ex):
    return ex.get("command") or "%s %r" % (ex.get("tool"), ex.get("input"))


@pytest.mark.parametrize("rule", SHIPPED, ids=[r["id"] for r in SHIPPED])
def test_rule_decides_its_examples(validator, rule):
    examples = rule.get("examples", ())
    assert any(example_decider(rule, ex) == rule["id"] for ex in examples), (
        "rule %s (%s) has no example that it decides: add one to its pack file" % (rule["id"], rule["source"]))
    failures = []
    for ex in examples:
        tool, tool_input, cwd = example_call(ex)
        problem = example_failure(rule, ex, validator.check(tool, tool_input, cwd=cwd))
        if problem is not None:
            failures.append("%s: %s" % (_label(ex), problem))
    assert not failures, "rule %s:\n  %s" % (rule["id"], "\n  ".join(failures))


def test_rules_test_passes_on_every_shipped_pack(capsys):
    assert main(["rules", "test", *pack_paths()]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(pack_paths()) and all(line.startswith("ok   ") for line in lines), lines
