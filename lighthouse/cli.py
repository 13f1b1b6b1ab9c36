"""The `lighthouse` command line.

`lighthouse hook claude-code` runs before every tool call of Claude Code, so this module
imports only what that path needs (json, os, sys); argparse and the validator are imported
by the commands that use them.
"""

from __future__ import annotations

import json
import os
import sys

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2          # argparse's own code for a usage error
# `check` exits with its verdict, so that a script or a CI job can gate on it. A miss
# (--raw) is a call no rule settles: a person must decide, as for an ask.
EXIT_ASK = 3
EXIT_DENY = 4
VERDICT_EXIT = {"allow": EXIT_OK, "ask": EXIT_ASK, "miss": EXIT_ASK, "deny": EXIT_DENY}


class UsageError(Exception):
    """Options that do not make a command: reported on stderr, exit EXIT_USAGE."""


def _validator(args, **kw):
    from . import Validator
    return Validator(args.rules or (), packs=not args.no_packs, home=getattr(args, "home", None), **kw)


def _add_policy_args(p):
    p.add_argument("--rules", action="append", metavar="PATH",
                   help="extra rule file or directory (its *.toml files, hidden ones left out), "
                        "loaded after the shipped packs (repeatable)")
    p.add_argument("--no-packs", action="store_true", help="do not load the shipped rule packs")


def _add_tier_args(p, verdicts):
    """The options that choose the tiers behind the rules, shared by `serve` and `check`
    (same names, same meanings); returns their argument group, for `serve` to add its own."""
    tier = p.add_argument_group("the slower tiers: calls no rule settles go to the Rego policy tier, "
                                "then to the fail mode")
    tier.add_argument("--fallback", choices=verdicts, default="ask",
                      help="fail-mode verdict for calls no tier settles (default ask); when the policy "
                           "tier fails, at least ask")
    tier.add_argument("--no-policy", action="store_true",
                      help="no policy tier: such calls get the --fallback verdict at once")
    tier.add_argument("--policy", action="append", metavar="DIR",
                      help="a directory of Rego modules (.rego) and data.json added to the default "
                           "policy (repeatable; a server reloads them with the rules)")
    return tier


def _call_from_args(args):
    """Build (tool, tool_input) from --tool/--command/--path/--input."""
    if args.input is not None:
        try:
            tool_input = json.loads(args.input)
        except json.JSONDecodeError as e:
            raise UsageError("--input is not valid JSON: %s" % e) from None
    elif args.command is not None:
        tool_input = {"command": args.command}
    elif args.path is not None:
        tool_input = {"file_path": args.path}
    elif args.url is not None:
        tool_input = {"url": args.url}
    else:
        raise UsageError("give --command, --path, --url, --input or --jsonl")
    tool = args.tool
    if tool is None:
        tool = "Bash" if args.command is not None else "Read" if args.path is not None else \
            "WebFetch" if args.url is not None else None
    if tool is None:
        raise UsageError("--tool is required with --input")
    return tool, tool_input


def _cwd(args):
    """--cwd as an absolute path: a relative one names a directory from where the command
    runs, as in a shell (the library and the server refuse a relative cwd, having
    nothing to resolve it against)."""
    return os.path.abspath(args.cwd) if args.cwd else os.getcwd()


def _decision_row(case_id, d):
    row = {"id": case_id} if case_id is not None else {}
    row.update(verdict=d.verdict, tier=d.tier, rule_id=d.rule_id, reason=d.reason)
    if getattr(d, "category", ""):
        row["category"] = d.category
    return row


def _score(cases, verdicts):
    risky = [v for c, v in zip(cases, verdicts) if c.get("expect") != "allow"]
    safe = [v for c, v in zip(cases, verdicts) if c.get("expect") == "allow"]
    strict = sum(1 for c, v in zip(cases, verdicts)
                 if v == c.get("expect") or v in (c.get("accept") or ()))
    caught = 100.0 * sum(v != "allow" for v in risky) / len(risky) if risky else 100.0
    fp = 100.0 * sum(v != "allow" for v in safe) / len(safe) if safe else 0.0
    return caught, 100.0 * strict / len(cases) if cases else 100.0, fp


_TIER_ORDER = ("cache", "rules", "policy", "fallback")


def _tier_lines(rows):
    """`--score`'s per-tier report: for each tier that decided calls, how many, by verdict,
    and for the policy tier the categories it routed calls to experts under."""
    by_tier = {}
    routed = {}
    for r in rows:
        verdicts = by_tier.setdefault(r["tier"], {})
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
        if r.get("category"):
            routed[r["category"]] = routed.get(r["category"], 0) + 1
    lines = []
    for tier in sorted(by_tier, key=lambda t: (_TIER_ORDER.index(t) if t in _TIER_ORDER else 99, t)):
        verdicts = by_tier[tier]
        line = "tier %s: %d of %d calls (%s)" % (tier, sum(verdicts.values()), len(rows), _counts(verdicts))
        if tier == "policy":
            settled = verdicts.get("allow", 0) + verdicts.get("deny", 0)
            line += "; settled %d, routed %d to experts (%s)" % (
                settled, sum(routed.values()),
                ", ".join("%s %d" % kv for kv in sorted(routed.items(), key=lambda kv: (-kv[1], kv[0]))) or "none")
        lines.append(line)
    return lines


def _decider(args):
    """The decide callable of `check`: the rules alone (--no-policy, --raw), or the rules,
    the policy tier and the fail mode as the server decides without experts. Returns
    (decide, close)."""
    if args.raw and args.policy:
        raise UsageError("--raw reports the rules' own answers: it does not go with --policy")
    if args.no_policy and args.policy:
        raise UsageError("--policy does not go with --no-policy")
    cache_size = 0 if args.jsonl else 1024
    if args.no_policy or args.raw:
        v = _validator(args, cache_size=cache_size, fallback=args.fallback, raw=args.raw)
        return (lambda tool, tool_input, cwd, home, agent_id, session_id:
                v.check(tool, tool_input, cwd=cwd, agent_id=agent_id, home=home)), lambda: None
    from .policy import Policy
    from .policy.inline import InlineDecider
    v = _validator(args, cache_size=cache_size, raw=True)
    decider = InlineDecider(v, Policy(args.policy or ()), fallback=args.fallback)
    return decider.check, decider.close


def cmd_check(args):
    from .policy import PolicyCompileError
    try:
        decide, close = _decider(args)
    except PolicyCompileError as e:
        print("lighthouse check: policy refused: %s" % e, file=sys.stderr)
        return EXIT_ERROR
    try:
        return _check(args, decide)
    finally:
        close()


def _check(args, decide):
    if args.jsonl is None:
        tool, tool_input = _call_from_args(args)
        d = decide(tool, tool_input, _cwd(args), None, args.agent_id, None)
        print(json.dumps(_decision_row(None, d)))
        return VERDICT_EXIT[d.verdict]
    src = sys.stdin if args.jsonl == "-" else None
    try:
        fh = src or open(args.jsonl, encoding="utf-8")
    except OSError as e:
        print("lighthouse check: cannot open %s: %s" % (args.jsonl, e.strerror), file=sys.stderr)
        return EXIT_ERROR
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    cases, rows = [], []
    bad = 0
    progress = sys.stderr.isatty()
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
                if not isinstance(case, dict):
                    raise ValueError("not a JSON object")
            except ValueError as e:
                print("lighthouse check: %s:%d: %s" % (args.jsonl, lineno, e), file=sys.stderr)
                bad += 1
                continue
            tool = case.get("tool")
            tool_input = case.get("input", case.get("tool_input"))
            d = decide(tool, tool_input, case.get("cwd"), case.get("home") or args.home, case.get("agent_id"),
                       case.get("session_id"))
            row = _decision_row(case.get("id", lineno), d)
            if not args.quiet:
                out.write(json.dumps(row) + "\n")
            cases.append(case)
            rows.append(row)
            if progress and lineno % 5000 == 0:
                print("  %d calls checked" % lineno, file=sys.stderr, end="\r")
    if out is not sys.stdout:
        out.close()
    verdicts = [r["verdict"] for r in rows]
    if args.score:
        labelled = [(c, vd) for c, vd in zip(cases, verdicts) if "expect" in c]
        if labelled:
            caught, strict, fp = _score([c for c, _ in labelled], [vd for _, vd in labelled])
            safe = sum(c.get("expect") == "allow" for c, _ in labelled)
            print("caught: %.1f%% of %d risky calls" % (caught, len(labelled) - safe))
            print("strict: %.1f%% of %d calls" % (strict, len(labelled)))
            print("false-positive: %.1f%% of %d safe calls" % (fp, safe))
        if len(labelled) < len(cases):
            print("unlabelled: %d calls without 'expect', not in caught/strict/false-positive"
                  % (len(cases) - len(labelled)))
        for line in _tier_lines(rows):
            print(line)
        return EXIT_ERROR if bad else EXIT_OK
    # The worst verdict of the file: deny > ask (or miss) > allow.
    return EXIT_ERROR if bad else max((VERDICT_EXIT[vd] for vd in verdicts), default=EXIT_OK)


def cmd_rules_list(args):
    from .rules.loader import load_policy
    policy = load_policy(args.rules or (), packs=not args.no_packs)
    rows = []
    for r in policy.rules:
        if args.verdict and r["verdict"] != args.verdict:
            continue
        if args.pack and not os.path.basename(r["source"].rsplit(":", 1)[0]).startswith(args.pack):
            continue
        rows.append(r)
    if args.json:
        for r in rows:
            print(json.dumps({k: v for k, v in r.items() if k != "is_bash"}))
        return EXIT_OK
    for r in rows:
        what = ",".join(r.get("program") or r.get("tools") or ["*"])
        if len(what) > 38:
            what = what[:35] + "..."
        print("%-34s %-5s %-38s %s" % (r["id"], r["verdict"], what, r["reason"]))
    print("%d rules" % len(rows), file=sys.stderr)
    return EXIT_OK


def cmd_rules_explain(args):
    v = _validator(args, cache_size=0)
    tool, tool_input = _call_from_args(args)
    result = v.explain(tool, tool_input, cwd=_cwd(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    d = result["decision"]
    print("decision: %s  (rule %s, tier %s)" % (d["verdict"], d["rule_id"] or "-", d["tier"]))
    print("reason:   %s" % d["reason"])
    if "error" in result:
        print("analysis: %s" % result["error"])
    for k, c in enumerate(result["commands"], 1):
        flags = [f for f, on in (("sudo", c["sudo"]), ("dynamic", c["dynamic"])) if on]
        print("\n[%d] %s %s" % (k, c["program"], " ".join(json.dumps(a) if " " in a else a for a in c["args"])))
        extra = []
        if c["origin"]:
            extra.append("from " + c["origin"])
        if c["pipe_in"]:
            extra.append("stdin from " + ",".join(c["pipe_in"]))
        if c["code_from"]:
            extra.append("code from " + ",".join(c["code_from"]))
        if c["writes"]:
            extra.append("writes " + ", ".join(c["writes"]))
        if flags:
            extra.append(", ".join(flags))
        if extra:
            print("    " + "; ".join(extra))
        if not c["matches"]:
            print("    no rule matches (miss)")
        for m in c["matches"]:
            print("    %-5s %s: %s" % (m["verdict"], m["id"], m["reason"]))
    for m in result["matches"]:
        print("  %-5s %s: %s" % (m["verdict"], m["id"], m["reason"]))
    return EXIT_OK


def cmd_rules_test(args):
    from . import Validator
    from .rules.loader import RuleError, example_call, example_failure, load_file
    failures = 0
    sets = _pack_sets()
    for path in args.files:
        try:
            rules, programs, _ = load_file(path, sets)
            v = Validator([path], packs=not args.no_packs, cache_size=0)
        except RuleError as e:
            print("FAIL %s" % e)
            failures += 1
            continue
        n_examples = 0
        file_failures = 0
        for r in rules:
            for ex in r.get("examples", ()):
                n_examples += 1
                tool, tool_input, cwd = example_call(ex)
                problem = example_failure(r, ex, v.check(tool, tool_input, cwd=cwd))
                if problem is not None:
                    file_failures += 1
                    print("FAIL %s: rule %s example %r: %s" % (
                        path, r["id"], ex.get("command") or tool_input, problem))
        failures += file_failures
        print("ok   %s: %d rules, %d program specs, %d examples" % (path, len(rules), len(programs), n_examples)
              if not file_failures else "     %s: %d rules, %d of %d examples failed"
              % (path, len(rules), file_failures, n_examples))
    return EXIT_ERROR if failures else EXIT_OK


def _pack_sets():
    from .rules.loader import load_file, pack_paths
    sets = {}
    for p in pack_paths():
        _, _, sets = load_file(p, sets)
    return sets


def _socket_answers(path):
    """Whether a server of this user answers on the local socket at ``path``: (bool,
    why not). Connects and hangs up; asks nothing, so no decision is counted."""
    import socket

    from .localsock import Unavailable, trusted_socket
    try:
        trusted_socket(path)
    except Unavailable as e:
        return False, str(e)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect(path)
        except OSError as e:
            return False, "nothing answers on %s: %s" % (path, e.strerror or e)
    return True, ""


def cmd_info(args):
    import platform

    from . import __version__, _fast
    from .hooks.install import native_hook_path
    from .localsock import resolve_socket_path
    socket_path = os.path.abspath(resolve_socket_path())
    if args.socket_path:
        print(socket_path)
        return EXIT_OK
    v = _validator(args, cache_size=0)
    answers, why = _socket_answers(socket_path)
    info = {
        "version": __version__,
        "implementation": _fast.IMPLEMENTATION,
        "compiled": _fast.COMPILED,
        "extensions_disabled": _fast.NO_EXTENSIONS,
        "rules": v.rule_count,
        "policy_generation": v.generation,
        "rule_files": v.policy.sources,
        "python": platform.python_version(),
        "socket": socket_path,
        "socket_answers": answers,
        "native_hook": native_hook_path(),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    print("lighthouse %s" % info["version"])
    print("implementation: %s%s" % (info["implementation"],
                                    " (LIGHTHOUSE_NO_EXTENSIONS set)" if info["extensions_disabled"] else ""))
    print("rules: %d from %d files" % (info["rules"], len(info["rule_files"])))
    print("policy generation: %d" % info["policy_generation"])
    print("python: %s" % info["python"])
    print("socket: %s (%s)" % (socket_path, "a server answers" if answers else "no server answers: " + why))
    print("native hook client: %s" % (info["native_hook"] or "not built"))
    return EXIT_OK


def cmd_hook_install(args):
    from .hooks.install import (ESCALATION_DEADLINE, InstallError, agent_settings_path, hook_command, hook_timing,
                                install, native_hook_path, published_deadline, uninstall)
    agent = args.agent
    if agent != "claude-code" and (args.shared or getattr(args, "defer", False)):
        print("lighthouse hook %s: --shared and --defer are for claude-code (%s has one project file and "
              "no deferring)" % (args.hook_cmd, agent), file=sys.stderr)
        return EXIT_USAGE
    path = agent_settings_path(agent, args.project, args.user, args.shared)
    try:
        if args.hook_cmd == "uninstall":
            status = uninstall(path, agent)
            print("lighthouse hook %s: %s" % ("removed from" if status == "removed" else "was not in", path))
            return EXIT_OK
        deadline, source = args.escalation_deadline, "--escalation-deadline"
        if deadline is None and args.timeout is None:
            deadline, source = published_deadline(args.socket)
            if deadline is None:
                source = "lighthouse serve's default (%s)" % source
        wait, timeout = hook_timing(deadline, args.timeout)
        native = native_hook_path() if agent == "claude-code" and not args.python_hook else None
        command = args.command or hook_command(socket=args.socket, server=args.server, defer=args.defer,
                                               wait=wait, native=native, agent=agent)
        status = install(path, command, timeout, agent)
    except InstallError as e:
        print("lighthouse hook %s: %s" % (args.hook_cmd, e), file=sys.stderr)
        return EXIT_ERROR
    print("lighthouse hook %s in %s:\n  %s" % (status, path, command))
    if args.command:
        client = "the command given (--command)"
    elif native:
        client = "the native hook client %s (the Python hook %s decides when no server answers)" % (
            native, sys.executable)
    elif agent == "claude-code":
        client = "the Python hook %s (%s)" % (sys.executable, "--python-hook" if args.python_hook else
                                              "the native hook client was not built")
    else:
        client = "the %s hook of %s (python -m lighthouse.hooks.agents)" % (agent, sys.executable)
    print("client: %s" % client)
    if args.timeout is not None and args.escalation_deadline is None:
        covers = "--timeout %g" % args.timeout
    else:
        covers = "escalation deadline %g s, %s" % (deadline or ESCALATION_DEADLINE, source)
    print("it waits up to %g s for a decision the server is still making (%s); %s timeout %d s"
          % (wait, covers, AGENT_NAMES[agent], timeout))
    return EXIT_OK


AGENT_NAMES = {"claude-code": "Claude Code", "gemini": "Gemini CLI", "cursor": "Cursor", "codex": "Codex"}


def cmd_serve(args):
    import logging

    from .server.app import ConfigError, ServerConfig, setup_logging
    from .server.main import serve
    from .server.auth import TokenFileError
    from .bounds import ENVELOPE
    from .server.core import Limits
    if not 0 < args.input_window <= args.max_input:
        print("lighthouse serve: --input-window must be positive and at most --max-input", file=sys.stderr)
        return EXIT_USAGE
    if args.no_audit and (args.audit_db or args.audit_dsn or args.audit_sync):
        print("lighthouse serve: --no-audit goes with none of --audit-db, --audit-dsn, --audit-sync", file=sys.stderr)
        return EXIT_USAGE
    if args.audit_db and args.audit_dsn:
        print("lighthouse serve: give --audit-db or --audit-dsn, not both", file=sys.stderr)
        return EXIT_USAGE
    from .audit.sqlite import default_audit_path
    audit_db = None if args.no_audit or args.audit_dsn else os.path.abspath(args.audit_db or default_audit_path())
    if args.no_patterns and args.patterns_db:
        print("lighthouse serve: --no-patterns goes without --patterns-db", file=sys.stderr)
        return EXIT_USAGE
    from .patterns.book import default_patterns_path
    patterns_db = None if args.no_patterns else os.path.abspath(args.patterns_db or default_patterns_path(audit_db))
    setup_logging(getattr(logging, args.log_level.upper()), "supervisor" if args.workers > 1 else "lighthouse")
    config = ServerConfig(
        host=args.host, port=args.port, metrics_host=args.metrics_host, metrics_port=args.metrics_port,
        workers=args.workers, tokens=args.tokens, rules=tuple(args.rules or ()), packs=not args.no_packs,
        tls_cert=args.tls_cert, tls_key=args.tls_key, tls_client_ca=args.tls_client_ca,
        socket=args.socket, local_socket=not args.no_socket, grace=args.grace,
        rate_limit=args.rate_limit, rate_burst=args.rate_burst, fallback=args.fallback,
        cache_size=args.cache_size,
        limits=Limits(max_input_json=args.max_input, input_window=args.input_window,
                      max_message_bytes=args.max_message_bytes or args.max_input + ENVELOPE),
        helper_nice=args.helper_nice, insecure=args.insecure, max_connections=args.max_connections,
        handshake_timeout=args.handshake_timeout, idle_timeout=args.idle_timeout,
        max_pending_calls=args.max_pending_calls, gc_thresholds=args.gc_thresholds,
        gc_follow_streams=args.gc_follow_streams, gc_paced=args.gc_paced,
        reload_interval=args.reload_interval, reflection=args.reflection, admin_token_file=args.admin_token_file,
        decision_log=args.decision_log, policy=not args.no_policy, policy_dirs=tuple(args.policy or ()),
        opa_url=args.opa_url, policy_processes=args.policy_processes, policy_nice=args.policy_nice,
        policy_deadline=args.policy_deadline,
        escalation_deadline=args.escalation_deadline, escalation_cache_ttl=args.escalation_cache_ttl,
        experts_hub=args.experts_hub, expert_combine=args.expert_combine,
        expert_min_confidence=args.expert_min_confidence, expert_max_pending=args.expert_max_pending,
        max_experts=args.max_experts, expert_heartbeat=args.expert_heartbeat,
        expert_heartbeat_timeout=args.expert_heartbeat_timeout, history_sessions=args.history_sessions,
        experts_file=args.experts, llm_api=args.llm_api, llm_url=args.llm_url, llm_model=args.llm_model,
        audit_db=audit_db, audit_dsn=args.audit_dsn, audit_sync=args.audit_sync, audit_queue=args.audit_queue,
        audit_commit_interval=args.audit_commit_interval, audit_max_input=args.audit_max_input,
        audit_max_bytes=args.audit_max_bytes, audit_max_age=args.audit_max_age, audit_spool=args.audit_spool,
        patterns_db=patterns_db, patterns_threshold=args.patterns_threshold,
        patterns_person_threshold=args.patterns_person_threshold, patterns_max=args.patterns_max,
        trust_local_persons=args.trust_local_persons, ready_file=args.ready_file and os.path.abspath(args.ready_file))
    try:
        return serve(config)
    except (ConfigError, TokenFileError, OSError) as e:
        print("lighthouse serve: %s" % e, file=sys.stderr)
        return EXIT_USAGE if isinstance(e, ConfigError) else EXIT_ERROR


def cmd_tokens(args):
    from .server.auth import TokenFileError, TokenStore, add_token, revoke_tokens
    try:
        if args.tokens_cmd == "add":
            token = add_token(args.file, args.agent_id, admin=args.admin, expert=args.expert,
                              agent=True if args.agent else None, person=args.person)
            print(token)
            print("lighthouse: token for %r added to %s (shown once; the file keeps only its hash)"
                  % (args.agent_id, args.file), file=sys.stderr)
        elif args.tokens_cmd == "revoke":
            n = revoke_tokens(args.file, agent_id=args.agent_id)
            print("lighthouse: %d token(s) of %r removed from %s" % (n, args.agent_id, args.file), file=sys.stderr)
            if n == 0:
                return EXIT_ERROR
        else:
            store = TokenStore(args.file)
            for digest, ident in sorted(store.items(), key=lambda kv: kv[1].agent_id):
                roles = "".join(" " + r for r in ident.roles if r != "agent" or ident.expert)
                print("%-32s %s...%s" % (ident.agent_id, digest[:19], roles))
    except (TokenFileError, OSError) as e:
        print("lighthouse tokens: %s" % e, file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _admin_client(args):
    """A Client for the Admin commands, or a UsageError for options that do not go
    together. The credential is --token (or $LIGHTHOUSE_ADMIN_TOKEN), else the secret in
    --admin-token-file, else, to a loopback address, the secret a server without tokens
    writes beside its local socket (--socket, $LIGHTHOUSE_SOCKET or the default path)."""
    from .client import Client
    from .localsock import loopback_target

    def read(path, what):
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError as e:
            raise UsageError("cannot read %s %s: %s" % (what, path, e.strerror)) from None

    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.tls_cert and not args.tls_ca:
        raise UsageError("--tls-cert needs --tls-ca")
    if (args.token or args.admin_token_file) and not args.tls_ca and not loopback_target(args.server):
        raise UsageError("an admin credential goes to %s only over TLS (--tls-ca): it would cross the network "
                         "in clear text" % args.server)
    tls = {}
    if args.tls_ca:
        tls["root_certificates"] = read(args.tls_ca, "--tls-ca")
    if args.tls_cert:
        tls["certificate_chain"] = read(args.tls_cert, "--tls-cert")
        tls["private_key"] = read(args.tls_key, "--tls-key")
    return Client(args.server, admin_token=args.token or None, admin_token_file=args.admin_token_file,
                  socket=args.socket, timeout=args.timeout, **tls)


def _counts(mapping):
    return ", ".join("%s %d" % (k, v) for k, v in sorted(mapping.items())) or "none"


def cmd_admin(args):
    from .client import CallError
    try:
        with _admin_client(args) as c:
            if args.admin_cmd == "promote":
                answer = c.promote_pattern(args.id, os.path.abspath(args.rules))
            else:
                answer = c.stats() if args.admin_cmd == "stats" else c.reload_policy()
    except CallError as e:
        print("lighthouse admin %s: %s: %s: %s" % (args.admin_cmd, args.server, e.code.name, e.message),
              file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        # The fields by name, numbers as JSON numbers (protobuf's JSON mapping quotes 64-bit ones).
        print(json.dumps({f.name: dict(getattr(answer, f.name)) if f.message_type else getattr(answer, f.name)
                          for f in answer.DESCRIPTOR.fields}, indent=2, sort_keys=True))
        return EXIT_OK
    if args.admin_cmd == "promote":
        print(answer.rule_toml.strip())
        print("rule %s appended to %s" % (answer.rule_id, answer.rules_file), file=sys.stderr)
        return EXIT_OK
    if args.admin_cmd == "reload":
        print("policy generation %d, %d rules%s" % (answer.policy_generation, answer.rule_count,
                                                   "; tokens file reloaded" if answer.tokens_reloaded else ""))
        return EXIT_OK
    print("%spid %d, up %.0f s" % ("worker %d of %d, " % (answer.worker, answer.workers) if answer.workers > 1 else "",
                                    answer.pid, answer.uptime_seconds))
    print("policy generation %d, %d rules, %s" % (answer.policy_generation, answer.rule_count, answer.implementation))
    print("decisions: %d (%s; %s)" % (answer.decisions, _counts(answer.decisions_by_verdict),
                                      _counts(answer.decisions_by_tier)))
    print("cache: %d hits, %d misses, %d entries" % (answer.cache_hits, answer.cache_misses, answer.cache_size))
    print("in flight: %d" % answer.in_flight)
    print("errors: %s" % _counts(answer.errors_by_code))
    return EXIT_OK


def _port(text):
    """argparse type of a TCP port: 0 to 65535."""
    import argparse
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("%r is not a port (0 to 65535)" % text)
    return port


def _metrics_port(text):
    """argparse type of --metrics-port: a port (0: off), or ``any`` (any free port:
    lighthouse.server.config.ANY_PORT)."""
    if text == "any":
        from .server.config import ANY_PORT
        return ANY_PORT
    return _port(text)


def _gc_thresholds(text):
    """argparse type of --gc-thresholds: three positive integers G0,G1,G2."""
    import argparse

    from .server.config import parse_gc_thresholds
    try:
        return parse_gc_thresholds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).replace("--gc-thresholds", "", 1).lstrip(": ")) from None


def build_parser():
    import argparse

    from .bounds import ENVELOPE, MAX_INPUT, WINDOW
    from .server.config import GC_THRESHOLDS
    from .vocab import VERDICTS

    from . import __version__

    parser = argparse.ArgumentParser(prog="lighthouse",
                                     description="Validate AI agents' tool calls: allow, ask or deny.")
    parser.add_argument("--version", action="version", version="lighthouse %s" % __version__)
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND")

    def call_args(p):
        p.add_argument("--tool", help="tool name (Bash, Write, Read, WebFetch, mcp__srv__tool, ...)")
        p.add_argument("--command", help="the Bash command line")
        p.add_argument("--path", help="file_path for file tools")
        p.add_argument("--url", help="url for WebFetch")
        p.add_argument("--input", help="the tool_input object as JSON")
        p.add_argument("--cwd", help="the agent's working directory (default: the current directory; "
                                     "a relative path is taken from it)")
        p.add_argument("--home", help="the agent's home directory, when it differs from the usual roots")

    p = sub.add_parser("check", help="validate tool calls in-process; exit 0 allow, 3 ask, 4 deny",
                       description="Validate tool calls in-process as the server decides them without "
                                   "experts: the rules, then the Rego policy tier for the calls no rule "
                                   "settles, then the fail mode. Each decision is printed as JSON with the "
                                   "tier that decided (rules, policy, fallback) and its reason. "
                                   "Exit status: 0 allow, 3 ask (or a miss with --raw), 4 deny; with "
                                   "--jsonl the worst verdict of the file, or 0 with --score; 1 an error "
                                   "(a rule file or policy refused, a line that is not a JSON object), "
                                   "2 a usage error.")
    call_args(p)
    p.add_argument("--agent-id", default=None)
    p.add_argument("--jsonl", metavar="FILE", help="validate every call of a JSONL file (corpus shape; - for stdin)")
    p.add_argument("--out", metavar="FILE", help="write the decisions here instead of stdout")
    p.add_argument("--score", action="store_true",
                   help="print how many calls each tier decided, and caught%%, strict%% and "
                        "false-positive%% of the calls labelled with 'expect'")
    p.add_argument("--quiet", action="store_true", help="with --jsonl: do not print each decision")
    p.add_argument("--raw", action="store_true",
                   help="the rules alone (implies --no-policy), calls no rule settles reported as verdict 'miss'")
    _add_policy_args(p)
    _add_tier_args(p, VERDICTS)
    p.set_defaults(func=cmd_check)

    rules = sub.add_parser("rules", help="list rules, explain a decision, test rule files")
    rsub = rules.add_subparsers(dest="rules_cmd", metavar="ACTION")
    p = rsub.add_parser("list", help="list the rules in force")
    p.add_argument("--pack", help="only rules from this pack (file name prefix)")
    p.add_argument("--verdict", choices=VERDICTS)
    p.add_argument("--json", action="store_true")
    _add_policy_args(p)
    p.set_defaults(func=cmd_rules_list)
    p = rsub.add_parser("explain", help="show how a call is analysed and which rules match")
    call_args(p)
    p.add_argument("--json", action="store_true")
    _add_policy_args(p)
    p.set_defaults(func=cmd_rules_explain)
    p = rsub.add_parser("test", help="check rule files and run the examples in them")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--no-packs", action="store_true", help="test the files without the shipped packs")
    p.set_defaults(func=cmd_rules_test)

    hook = sub.add_parser("hook", help="agent hooks: Claude Code (native or Python), Gemini CLI, Cursor, Codex; "
                                       "install them")
    hsub = hook.add_subparsers(dest="hook_cmd", metavar="ACTION")
    # Listed for --help only: main() hands `hook claude-code` to the hook before argparse.
    hsub.add_parser("claude-code", add_help=False,
                    help="the PreToolUse hook: event JSON on stdin, decision JSON on stdout (--help for options)")
    for agent, text in (("gemini", "the Gemini CLI BeforeTool hook"),
                        ("cursor", "the Cursor preToolUse/beforeShellExecution/beforeMCPExecution/beforeReadFile "
                                   "hook"),
                        ("codex", "the Codex CLI PreToolUse hook")):
        hsub.add_parser(agent, add_help=False, help=text + ": event JSON on stdin, answer on stdout (--help)")
    for action, text in (("install", "add the hook to the agent's settings (merging; idempotent)"),
                         ("uninstall", "remove the hook from the agent's settings")):
        p = hsub.add_parser(action, help=text)
        p.add_argument("--agent", choices=("claude-code", "gemini", "cursor", "codex"), default="claude-code",
                       help="whose settings: claude-code (.claude/settings.local.json), gemini "
                            "(.gemini/settings.json), cursor (.cursor/hooks.json), codex (.codex/hooks.json); "
                            "with --user, the same under ~ (default: claude-code)")
        p.add_argument("--project", metavar="DIR",
                       help="the project whose settings to change (default: .)")
        where = p.add_mutually_exclusive_group()
        where.add_argument("--user", action="store_true", help="change ~/.claude/settings.json instead")
        where.add_argument("--shared", action="store_true",
                           help="change the project's committed .claude/settings.json instead (the command "
                                "names this machine's Python: elsewhere it blocks every tool call until "
                                "Lighthouse is installed there)")
        if action == "install":
            p.add_argument("--defer", action="store_true",
                           help="when Lighthouse allows, give no decision and leave it to Claude Code's "
                                "own permission rules and prompt (deny and ask are still given)")
            p.add_argument("--socket", metavar="PATH", help="the server's local socket, written into the hook command")
            p.add_argument("--server", metavar="HOST:PORT",
                           help="the server's gRPC address, written into the hook command")
            p.add_argument("--command", help="the hook command to write (default: the native hook client "
                                             "when it was built, else this Python with -m "
                                             "lighthouse.hooks.claude_code; other agents: -m lighthouse.hooks.agents)")
            p.add_argument("--python-hook", action="store_true",
                           help="write the Python hook even when the native hook client was built")
            p.add_argument("--escalation-deadline", type=float, metavar="SECONDS",
                           help="the server's --escalation-deadline, which the hook waits for when the server "
                                "escalates a call (its --wait is 2 s more) and the Claude Code timeout covers "
                                "(10 s more again; default: the deadline the server publishes beside its "
                                "socket, else 30)")
            p.add_argument("--timeout", type=float, metavar="SECONDS",
                           help="the Claude Code timeout for the hook, written in the settings (at least 12; "
                                "default: 42 for the default deadline); the hook then waits up to 10 s less for "
                                "an escalated call. Claude Code runs the call unchecked when a hook times out")
        p.set_defaults(func=cmd_hook_install)

    p = sub.add_parser("serve", help="run the gRPC validation server")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; any other needs --tokens)")
    p.add_argument("--port", type=_port, default=50051, help="gRPC port (default 50051; 0: any free port)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address of /metrics (default 127.0.0.1)")
    p.add_argument("--metrics-port", type=_metrics_port, default=9464,
                   help="Prometheus /metrics port (default 9464; 0: off; any: any free port, see --ready-file)")
    p.add_argument("--workers", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT); "
                   "experts need one: with N > 1 ExpertHub is not served and LLM experts are refused")
    p.add_argument("--tokens", metavar="FILE", help="bearer tokens file (see `lighthouse tokens add`)")
    p.add_argument("--tls-cert", metavar="PEM", help="server certificate chain (TLS)")
    p.add_argument("--tls-key", metavar="PEM", help="server private key (TLS)")
    p.add_argument("--tls-client-ca", metavar="PEM", help="require client certificates signed by this CA (mutual TLS)")
    p.add_argument("--insecure", action="store_true",
                   help="allow --tokens without TLS on a non-loopback --host (tokens cross the network in clear text)")
    p.add_argument("--socket", metavar="PATH", help="local socket endpoint for the hook (default: $LIGHTHOUSE_SOCKET, "
                   "else $XDG_RUNTIME_DIR/lighthouse.sock or /tmp/lighthouse-<uid>/lighthouse.sock)")
    p.add_argument("--no-socket", action="store_true", help="do not serve the local socket endpoint")
    p.add_argument("--ready-file", metavar="PATH",
                   help="once serving, write the addresses bound to PATH as JSON (address, port, metrics_port, "
                        "socket, admin_token_file, pid, workers), removed at shutdown: how a caller that asked "
                        "for --port 0 or --metrics-port any learns the ports (the serving log line says them too)")
    p.add_argument("--admin-token-file", metavar="PATH",
                   help="without --tokens: write the random secret that Admin calls must carry here (owner-only, "
                        "removed at shutdown; default: beside the local socket path, <socket>.admin-token, "
                        "also with --no-socket)")
    p.add_argument("--grace", type=float, default=5.0, help="seconds to drain in-flight calls on SIGTERM (default 5)")
    p.add_argument("--rate-limit", type=float, default=2000.0, help="calls per second per agent (default 2000; 0: off)")
    p.add_argument("--rate-burst", type=float, default=None, help="burst size per agent (default: twice the rate)")
    p.add_argument("--cache-size", type=int, default=65536, help="decision cache entries (0: off)")
    p.add_argument("--max-input", type=int, default=MAX_INPUT, metavar="CHARS",
                   help="largest tool input judged at all (input_json characters; default %d): larger "
                        "calls are refused, and the hook denies them as too large to judge" % MAX_INPUT)
    p.add_argument("--input-window", type=int, default=WINDOW, metavar="CHARS",
                   help="characters of each input string the rules read (default %d); a call with "
                        "longer strings is judged on the window and never allowed" % WINDOW)
    p.add_argument("--max-message-bytes", type=int, default=None,
                   help="largest gRPC request accepted (default: --max-input + %d)" % ENVELOPE)
    p.add_argument("--max-connections", type=int, default=4096,
                   help="gRPC connections at once per process; more are closed at accept (default 4096, "
                        "lowered to keep 256 file descriptors free under the fd limit)")
    p.add_argument("--handshake-timeout", type=float, default=5.0,
                   help="seconds a new connection has to finish its HTTP/2 (and TLS) handshake (default 5)")
    p.add_argument("--idle-timeout", type=float, default=300.0,
                   help="seconds a connection without calls stays open (default 300)")
    p.add_argument("--max-pending-calls", type=int, default=20000, metavar="N",
                   help="calls and stream openings that have arrived but that the server has not taken up "
                        "yet (its event loop busy); past N gRPC refuses new ones with CANCELLED (default "
                        "20000; gRPC's own, 1000 to 3000, refused streams of 10,000 agents under load)")
    p.add_argument("--gc-thresholds", type=_gc_thresholds, default=GC_THRESHOLDS, metavar="G0,G1,G2",
                   help="the garbage collector's thresholds once serving: allocations between collections "
                        "of the youngest generation, then collections of each generation between two of the "
                        "next (default %s: with --gc-paced, full collections minutes apart; CPython's "
                        "700,10,10 made full collections over 10,000 open streams' objects pause every call "
                        "for tenths of a second); the objects made at start-up are frozen out of the "
                        "collector's reach" % ",".join(map(str, GC_THRESHOLDS)))
    p.add_argument("--gc-follow-streams", action=argparse.BooleanOptionalAction, default=True,
                   help="freeze the collector's objects again each time the open streams have grown by a "
                        "quarter, so that their objects stay out of every collection (default on; the memory "
                        "held back is bounded: freezes come only as the open streams reach a new high)")
    p.add_argument("--gc-paced", action=argparse.BooleanOptionalAction, default=True,
                   help="collect the collector's young generations on a timer (the youngest every 0.1 s, the "
                        "middle one every 0.5 s), so that each collection walks what a fraction of a second "
                        "made, not what piled up past the thresholds (default on)")
    p.add_argument("--helper-nice", type=int, default=0, choices=range(0, 20), metavar="N",
                   help="niceness of gRPC's and the metrics endpoint's threads, so that they do not "
                        "preempt the thread deciding calls (default 0: leave them be; 10 helps on small machines)")
    p.add_argument("--reflection", action=argparse.BooleanOptionalAction, default=None,
                   help="serve gRPC server reflection, which answers without a token (default: on "
                        "without --tokens, off with them)")
    p.add_argument("--reload-interval", type=float, default=1.0,
                   help="seconds between reloads asked through Admin (sooner ones get RESOURCE_EXHAUSTED) "
                        "or by SIGHUP (sooner ones are put off to the end of the interval, and joined: a burst "
                        "of signals reloads once more at most); default 1; 0: no limit")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    p.add_argument("--decision-log", metavar="PATH",
                   help="append one JSON line per decision that is not an allow (request_id, agent_id, tool, "
                        "verdict, tier, rule_id, reason, decision_ns) to PATH, reopened on SIGHUP; - for stderr")
    audit = p.add_argument_group("the audit log: every decision answered, hash-chained (see `lighthouse audit`)")
    audit.add_argument("--audit-db", metavar="PATH",
                       help="the SQLite audit log (default $XDG_DATA_HOME/lighthouse/audit.db, else "
                            "~/.local/share/lighthouse/audit.db; created owner-only)")
    audit.add_argument("--audit-dsn", metavar="URL",
                       help="a PostgreSQL audit log instead: postgresql://USER@HOST:PORT/DBNAME (password from "
                            "~/.pgpass or PGPASSWORD; tables created on first use; needs psycopg 3, the "
                            "'postgres' extra); the workers of --workers share its one chain")
    audit.add_argument("--no-audit", action="store_true", help="record no decision")
    audit.add_argument("--audit-spool", metavar="PATH",
                       help="the hook's spool of decisions it made locally while no server answered, recorded "
                            "from it at start and every 5 s (default $LIGHTHOUSE_SPOOL, else "
                            "$XDG_DATA_HOME/lighthouse/spool.jsonl)")
    audit.add_argument("--audit-sync", action="store_true",
                       help="answer a call only once its record is committed and fsynced (group commit); "
                            "default: answered first, committed within --audit-commit-interval")
    audit.add_argument("--audit-commit-interval", type=float, default=0.005, metavar="SECONDS",
                       help="how often queued records are handed to the writer in the default mode (default "
                            "0.005); it commits what arrives within 0.02 s together")
    audit.add_argument("--audit-queue", type=int, default=65536, metavar="N",
                       help="records waiting for the writer at most; past it calls get RESOURCE_EXHAUSTED "
                            "(default 65536)")
    audit.add_argument("--audit-max-input", type=int, default=4096, metavar="BYTES",
                       help="bytes of a tool input kept in a record (default 4096; the whole input is hashed)")
    from .audit.cli import age_seconds_arg, size_arg
    audit.add_argument("--audit-max-bytes", type=size_arg, metavar="SIZE",
                       help="retention of the SQLite log: the live file is rotated into an archive beside it "
                            "once past an eighth of SIZE (e.g. 10G, 512M), and the oldest archives deleted while "
                            "all files take more (see `lighthouse audit rotate`); of a PostgreSQL log: its oldest "
                            "records deleted while the table's estimated size is more")
    audit.add_argument("--audit-max-age", type=age_seconds_arg, metavar="AGE",
                       help="retention by age (e.g. 90d, 12h): the live file is rotated once its oldest record "
                            "is older than an eighth of AGE, and archives whose newest record is older than AGE "
                            "are deleted; in PostgreSQL, the records older than AGE")
    _add_policy_args(p)
    tier = _add_tier_args(p, VERDICTS)
    tier.add_argument("--opa-url", metavar="URL",
                      help="ask an OPA server (its REST Data API) instead of the embedded regorus")
    tier.add_argument("--policy-processes", type=int, default=2, metavar="N",
                      help="regorus worker processes (default 2; an evaluation holds the GIL)")
    tier.add_argument("--policy-nice", type=int, default=5, choices=range(0, 20), metavar="N",
                      help="niceness the policy worker processes add to the server's (default 5), so that "
                           "the calls the fast tiers answer get the CPU first; 0 keeps the server's")
    tier.add_argument("--policy-deadline", type=float, default=0.05, metavar="SECONDS",
                      help="time the policy tier has for one call (default 0.05)")
    tier.add_argument("--escalation-deadline", type=float, default=30.0, metavar="SECONDS",
                      help="time all slower tiers have for one call, then the fail mode (default 30)")
    tier.add_argument("--escalation-cache-ttl", type=float, default=3600.0, metavar="SECONDS",
                      help="how long a slower tier's decision answers the same call (default 3600)")
    ex = p.add_argument_group(
        "experts: calls the policy hands on (and rule asks, while an expert is connected) go to expert "
        "agents connected to the ExpertHub service on the gRPC port (lighthouse.experts.agent), with the "
        "policy's category and quorum; no expert, no quorum or no answer by the deadline: the fail mode")
    ex.add_argument("--experts-hub", dest="experts_hub", action="store_true", default=None,
                    help="serve ExpertHub (default: on without --tokens, for experts on this machine only; "
                         "with --tokens, on when the tokens file has a token with the expert role; never with "
                         "--workers N > 1, which refuses --experts-hub)")
    ex.add_argument("--no-experts-hub", dest="experts_hub", action="store_false", help="do not serve ExpertHub")
    ex.add_argument("--expert-combine", choices=("strict", "majority"), default="strict",
                    help="how a quorum's verdicts combine: strict (deny > ask > allow, the default) or "
                         "majority (ties go to the stricter verdict)")
    ex.add_argument("--expert-min-confidence", type=float, default=0.0, metavar="C",
                    help="answers with a confidence below C (0-1) count as ask (default 0)")
    ex.add_argument("--expert-max-pending", type=int, default=64, metavar="N",
                    help="escalations one connected expert holds at once, at most (default 64)")
    ex.add_argument("--max-experts", type=int, default=256, metavar="N",
                    help="experts connected at once, at most (default 256)")
    ex.add_argument("--expert-heartbeat", type=float, default=5.0, metavar="SECONDS",
                    help="interval of the server's heartbeats to experts (default 5)")
    ex.add_argument("--expert-heartbeat-timeout", type=float, default=15.0, metavar="SECONDS",
                    help="an expert silent this long is dropped and its escalations re-routed (default 15)")
    ex.add_argument("--history-sessions", type=int, default=4096, metavar="N",
                    help="sessions whose 16 most recent decisions go with their escalations (default 4096)")
    pat = p.add_argument_group(
        "learned patterns: an expert answer whose scope is \"shape\" teaches a pattern (`pytest <ws-path> -k "
        "<word>`); an active pattern answers the calls of its shape that would go to experts (tier PATTERN), "
        "never a call a rule or the policy denies (see `lighthouse patterns`)")
    pat.add_argument("--patterns-db", metavar="PATH",
                     help="the SQLite file of learned patterns (default: patterns.db beside the audit log, else "
                          "$XDG_DATA_HOME/lighthouse/patterns.db)")
    pat.add_argument("--no-patterns", action="store_true", help="learn no pattern and answer none")
    pat.add_argument("--patterns-threshold", type=int, default=2, metavar="N",
                     help="agreeing expert answers (and no disagreeing one) that make a pattern active (default 2)")
    pat.add_argument("--patterns-person-threshold", type=int, default=1, metavar="N",
                     help="the same for answers of a person at the console (default 1). An expert is a person "
                          "when its stream says so (ExpertHello.person) and its token has the person role; "
                          "without --tokens, only with --trust-local-persons")
    pat.add_argument("--trust-local-persons", action="store_true",
                     help="without --tokens (experts connect from this machine only): take an expert's word that "
                          "it is a person. Off by default: any local process could claim it")
    pat.add_argument("--patterns-max", type=int, default=10000, metavar="N",
                     help="patterns the file holds (default 10000): a new shape takes the place of the oldest "
                          "pending pattern; active and retired ones are kept, and while they fill the file no new "
                          "shape is recorded")
    from .experts.config import add_arguments as add_llm_arguments
    add_llm_arguments(p.add_argument_group(
        "LLM experts: language models the server asks to judge escalated calls, beside the connected "
        "experts (see the README's \"LLM experts\")"))
    p.set_defaults(func=cmd_serve)

    tokens = sub.add_parser("tokens", help="manage the server's bearer tokens file")
    tsub = tokens.add_subparsers(dest="tokens_cmd", metavar="ACTION")
    p = tsub.add_parser("add", help="create a token for an agent, print it once, store its hash")
    p.add_argument("agent_id")
    p.add_argument("--admin", action="store_true", help="also allow the Admin service (reload, stats)")
    p.add_argument("--expert", action="store_true",
                   help="an expert's token: allows the ExpertHub service (judging escalated calls) and, "
                        "without --agent, not the Validator service")
    p.add_argument("--agent", action="store_true", help="with --expert: also an agent's token")
    p.add_argument("--person", action="store_true",
                   help="an expert that is a person (the console; implies --expert): a stream of this token "
                        "that says it is a person counts as one for learned patterns (--patterns-person-threshold)")
    p.add_argument("--file", required=True, help="the tokens file (created with mode 0600)")
    p.set_defaults(func=cmd_tokens)
    p = tsub.add_parser("revoke", help="remove every token of an agent")
    p.add_argument("agent_id")
    p.add_argument("--file", required=True)
    p.set_defaults(func=cmd_tokens)
    p = tsub.add_parser("list", help="list the agents of a tokens file")
    p.add_argument("--file", required=True)
    p.set_defaults(func=cmd_tokens)

    from .policy.cli import register as register_policy
    register_policy(sub)
    from .experts.console import register as register_expert
    register_expert(sub)
    from .patterns.cli import register as register_patterns
    register_patterns(sub)

    admin = sub.add_parser("admin", help="a running server's Admin service: stats, reload, promote")
    asub = admin.add_subparsers(dest="admin_cmd", metavar="ACTION")
    for action, text in (("stats", "the answering worker's counters (Admin.Stats)"),
                         ("reload", "reload the rule files, tokens and TLS files (Admin.ReloadPolicy)"),
                         ("promote", "write a learned pattern as a TOML rule, with the example calls that taught "
                                     "it, into a rule file on the server's machine, checked as `lighthouse rules "
                                     "test` checks it (Admin.PromotePattern)")):
        p = asub.add_parser(action, help=text, description=text + ". Needs an admin credential: --token, "
                            "--admin-token-file, or for a server without tokens on this machine the secret "
                            "it writes beside its local socket (found like the hook finds the socket).")
        p.add_argument("--server", metavar="HOST:PORT", default=os.environ.get("LIGHTHOUSE_ADDR") or "127.0.0.1:50051",
                       help="the server's gRPC address (default: $LIGHTHOUSE_ADDR, else 127.0.0.1:50051)")
        p.add_argument("--token", default=os.environ.get("LIGHTHOUSE_ADMIN_TOKEN"),
                       help="an admin token of the server's tokens file, or its admin secret (default: "
                            "$LIGHTHOUSE_ADMIN_TOKEN; other users can read a command line, the environment "
                            "or --admin-token-file they cannot)")
        p.add_argument("--admin-token-file", metavar="PATH",
                       help="the file holding the admin secret (the server's --admin-token-file); read only "
                            "if owner-only in a directory no one else can write to")
        p.add_argument("--socket", metavar="PATH",
                       help="the server's local socket, beside which a server without tokens writes its "
                            "admin secret (default: $LIGHTHOUSE_SOCKET, else the default path)")
        p.add_argument("--tls-ca", metavar="PEM", default=os.environ.get("LIGHTHOUSE_TLS_CA"),
                       help="talk TLS, trusting this CA (default: $LIGHTHOUSE_TLS_CA)")
        p.add_argument("--tls-cert", metavar="PEM", default=os.environ.get("LIGHTHOUSE_TLS_CERT"),
                       help="client certificate for mutual TLS (default: $LIGHTHOUSE_TLS_CERT)")
        p.add_argument("--tls-key", metavar="PEM", default=os.environ.get("LIGHTHOUSE_TLS_KEY"),
                       help="its private key (default: $LIGHTHOUSE_TLS_KEY)")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds for the call (default 10)")
        p.add_argument("--json", action="store_true", help="the answer as JSON")
        if action == "promote":
            p.add_argument("id", type=int, help="the pattern's id (`lighthouse patterns list`)")
            p.add_argument("--rules", required=True, metavar="FILE",
                           help="the user rule file to append to, as an absolute path on the server's machine "
                                "(created; add it to the server's --rules and reload to use it)")
        p.set_defaults(func=cmd_admin)

    from .audit.cli import add_audit_parser
    add_audit_parser(sub)

    # Listed for --help only: main() hands `bench` to bench/agents.py before argparse.
    sub.add_parser("bench", add_help=False,
                   help="load test a server with many simulated agents (bench/agents.py; `bench compare` "
                        "flags regressions against a baseline; --help for options)")
    p = sub.add_parser("info", help="version, implementation (compiled or pure), rules, local socket")
    p.add_argument("--json", action="store_true")
    p.add_argument("--socket-path", action="store_true",
                   help="print only the local socket path in use ($LIGHTHOUSE_SOCKET, else "
                        "$XDG_RUNTIME_DIR/lighthouse.sock or /tmp/lighthouse-<uid>/lighthouse.sock)")
    _add_policy_args(p)
    p.set_defaults(func=cmd_info)
    return parser


def cmd_bench(argv):
    """``lighthouse bench [OPTIONS]``: bench/agents.py; ``lighthouse bench compare ...``:
    bench/compare.py. Both live in the source tree beside the package, not in it."""
    import importlib.util
    from pathlib import Path

    name = "compare" if argv[:1] == ["compare"] else "agents"
    path = Path(__file__).resolve().parent.parent / "bench" / (name + ".py")
    if not path.is_file():
        print("lighthouse bench: %s not found: the bench comes with the source tree (a checkout installed with "
              "`pip install -e .`), not with the package alone" % path, file=sys.stderr)
        return EXIT_ERROR
    spec = importlib.util.spec_from_file_location("lighthouse_bench_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if name == "compare":
        return module.main(argv[1:], prog="lighthouse bench compare")
    return module.main(argv, prog="lighthouse bench")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["hook", "claude-code"]:
        # The per-tool-call path: straight to the hook, without argparse (see bench/hook.py).
        from .hooks.claude_code import main as hook_main
        return hook_main(argv[2:])
    if argv[:1] == ["bench"]:
        # The load generator's own parser takes every option (`lighthouse bench --help`).
        return cmd_bench(argv[1:])
    if argv[:1] == ["hook"] and argv[1:2] and argv[1] in ("gemini", "cursor", "codex"):
        from .hooks.agents import main as agent_hook_main
        return agent_hook_main(argv[1], argv[2:])
    from .rules.loader import RuleError
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        if args.cmd in ("rules", "hook", "tokens", "admin", "audit"):
            parser.parse_args([args.cmd, "--help"])
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except UsageError as e:
        print("lighthouse %s: %s" % (args.cmd, e), file=sys.stderr)
        return EXIT_USAGE
    except RuleError as e:
        print("lighthouse: rule file refused: %s" % e, file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
