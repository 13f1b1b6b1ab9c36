"""`lighthouse policy eval` and `lighthouse policy test`: the policy tier from the command line.

``eval`` shows what the server's policy tier would see and answer for one call (like
``opa eval``): the input document built from the call, the rules' verdict that sent it
there, and the policy's result. ``test`` runs the ``test_`` rules of the policy (like
``opa test``).
"""

from __future__ import annotations

import json
import os
import sys

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def register(sub):
    """Add the `policy` command to the `lighthouse` argument parser's subparsers."""
    policy = sub.add_parser("policy", help="the Rego policy tier: evaluate a call, run policy tests")
    psub = policy.add_subparsers(dest="policy_cmd", metavar="ACTION")

    def sources(p):
        p.add_argument("--policy", action="append", metavar="DIR", default=[],
                       help="a policy directory or file (.rego, data.json), loaded after the default (repeatable)")
        p.add_argument("--no-default", action="store_true", help="do not load the shipped default policy")

    p = psub.add_parser("eval", help="build the input document of a call and evaluate the policy on it")
    p.add_argument("--input", metavar="FILE",
                   help="the call as JSON (tool, input, cwd, home, agent_id, session_id), or an input "
                        "document; - for stdin")
    p.add_argument("--command", help="a Bash command line instead of --input")
    p.add_argument("--cwd", help="the call's working directory (default: current directory)")
    p.add_argument("--home", help="the agent's home directory")
    p.add_argument("--opa-url", metavar="URL", help="evaluate on this OPA server (REST Data API) instead of regorus")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for OPA (default 2)")
    sources(p)
    p.set_defaults(func=cmd_eval)

    p = psub.add_parser("test", help="run the test_ rules of the policy (like opa test)")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="policy directories with tests (in addition to the default)")
    p.add_argument("--run", metavar="TEXT", help="only tests whose name contains TEXT")
    p.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")
    sources(p)
    p.set_defaults(func=cmd_test)
    policy.set_defaults(func=lambda args: (policy.print_help(), EXIT_USAGE)[1])


def _load_call(args):
    if args.command is not None:
        return {"tool": "Bash", "input": {"command": args.command}}
    if not args.input:
        raise SystemExit("lighthouse policy eval: give --input FILE or --command")
    try:
        text = sys.stdin.read() if args.input == "-" else open(args.input, encoding="utf-8").read()
        call = json.loads(text)
    except OSError as e:
        raise SystemExit("lighthouse policy eval: cannot read %s: %s" % (args.input, e.strerror))
    except ValueError as e:
        raise SystemExit("lighthouse policy eval: %s is not valid JSON: %s" % (args.input, e))
    if not isinstance(call, dict):
        raise SystemExit("lighthouse policy eval: %s must hold a JSON object" % args.input)
    return call


def cmd_eval(args):
    from .. import Validator
    from . import OpaClient, Policy, PolicyError, build_input
    call = _load_call(args)
    rules = None
    if "analysis" in call and "escalation" in call:
        doc = call                                   # already an input document
    else:
        tool = call.get("tool") or "Bash"
        tool_input = call.get("input", call.get("tool_input"))
        cwd = args.cwd or call.get("cwd") or os.getcwd()
        home = args.home or call.get("home") or ""
        v = Validator(raw=True, cache_size=0, home=home or None)
        d = v.check(tool, tool_input, cwd=cwd, agent_id=call.get("agent_id"))
        rules = {"verdict": d.verdict, "rule_id": d.rule_id, "reason": d.reason}
        escalation = d.verdict if d.verdict in ("miss", "ask") else "miss"
        doc = build_input(tool, tool_input, cwd=cwd, home=home, agent_id=call.get("agent_id") or "",
                          session_id=call.get("session_id") or "", escalation=escalation,
                          rule_id=d.rule_id if d.verdict == "ask" else "",
                          reason=d.reason if d.verdict == "ask" else "")
    out = {"input": doc}
    if rules is not None:
        out["rules"] = rules
        if rules["verdict"] not in ("miss", "ask"):
            out["note"] = "the rules settle this call (%s); the policy tier would not see it" % rules["verdict"]
    try:
        if args.opa_url:
            client = OpaClient(args.opa_url, timeout=args.timeout)
            try:
                result = client.evaluate(doc)
            finally:
                client.close()
        else:
            result = Policy(args.policy, default=not args.no_default).evaluate(doc)
    except PolicyError as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        print(json.dumps(out, indent=2))
        return EXIT_ERROR
    out["result"] = result.to_dict()
    print(json.dumps(out, indent=2))
    return EXIT_OK


def cmd_test(args):
    from . import Policy, PolicyCompileError
    try:
        policy = Policy(list(args.policy) + list(args.dirs), default=not args.no_default)
    except PolicyCompileError as e:
        print("lighthouse policy test: policy refused: %s" % e, file=sys.stderr)
        return EXIT_ERROR
    results = policy.run_tests(args.run)
    failed = [r for r in results if not r.passed]
    for r in results:
        if not r.passed:
            print("FAIL %s.%s (%s): %s" % (r.package, r.name, r.file, r.error))
        elif args.verbose:
            print("PASS %s.%s" % (r.package, r.name))
    print("%s: %d/%d tests passed" % ("FAIL" if failed else "PASS", len(results) - len(failed), len(results)))
    if not results:
        print("lighthouse policy test: no test_ rules found", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_ERROR if failed else EXIT_OK
