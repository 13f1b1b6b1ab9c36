"""Claude Code PreToolUse hook: ``lighthouse hook claude-code``.

Claude Code runs the hook before every tool call, with the event as JSON on stdin
(``session_id``, ``transcript_path``, ``cwd``, ``hook_event_name``, ``tool_name``,
``tool_input``, ...), and reads the decision from stdout::

    {"hookSpecificOutput": {"hookEventName": "PreToolUse",
                            "permissionDecision": "allow" | "ask" | "deny",
                            "permissionDecisionReason": "..."}}

The hook asks the Lighthouse server, so that the decision is the server's and audited
there: first over the local Unix socket (``--socket``, ``$LIGHTHOUSE_SOCKET``, else the
default of :mod:`lighthouse.localsock`), then, if a gRPC address is configured
(``--server``, ``$LIGHTHOUSE_ADDR``), over gRPC, all within one deadline (``--timeout``,
1.5 s). An error a server answers instead of a verdict (too large, invalid, rate limited,
unauthenticated) is a deny naming it. When no server answers it decides locally with the
server's rules (the rule files and limits the server publishes beside its socket, plus
``--rules``/``$LIGHTHOUSE_RULES``) and says so in the reason: a dead server is never an
allow. Input it cannot read is denied with the problem named. It always exits 0, with one
JSON object on stdout (or nothing, with ``--defer``, when the verdict is allow).

A call no rule settles goes to the server's slower tiers (Rego policy, experts), which may
take up to the server's escalation deadline (30 s by default). The server says so at once
(the socket's pending line, gRPC initial metadata), within ``--timeout``, so the hook
tells a server that is deciding from one that does not answer: it waits for the decision
until the deadline the server announced (plus a second), but no longer than ``--wait``
seconds in all (32 by default: the server's default deadline and its margins); past it,
or if the server goes away meanwhile, the call gets the verdict the server gives when its
slower tiers fail (ask, or deny), never an allow and never a local decision. A server that
neither answers nor says it is deciding within ``--timeout`` is a server that does not
answer. ``lighthouse hook install`` writes ``--wait`` and a Claude Code ``timeout`` that
covers it (Claude Code lets a call run unchecked when a hook times out).

Its wall time is the user's latency on every tool call, so this module imports only
``json``, ``os``, ``sys`` and :mod:`lighthouse.localsock` at start-up; the validator (rule
packs, RE2) and grpc are imported only when they are needed. ``bench/hook.py`` measures it.
"""

from __future__ import annotations

import json
import os
import sys
import time

from ..localsock import (ANSWER_GRACE, VERDICTS, Undecided, Unavailable, ask, loopback_target,
                         positive_seconds, read_policy, resolve_socket_path, undecided_error)

__all__ = ["main", "run", "decision_output", "DEADLINE", "WAIT", "MAX_WAIT", "MAX_EVENT"]

DEADLINE = 1.5      # seconds for the server to answer, or to say it is deciding
# Seconds the hook waits in all for a call the server is deciding: the server's default
# escalation deadline (30 s), the second its Decider allows past it, and ANSWER_GRACE.
WAIT = 32.0
MAX_WAIT = 600.0
ADDR_ENV = "LIGHTHOUSE_ADDR"
RULES_ENV = "LIGHTHOUSE_RULES"
TOKEN_ENV = "LIGHTHOUSE_TOKEN"
TLS_ENV = {"tls_ca": "LIGHTHOUSE_TLS_CA", "tls_cert": "LIGHTHOUSE_TLS_CERT", "tls_key": "LIGHTHOUSE_TLS_KEY"}
AGENT_ID = "claude-code"
MAX_REASON = 2000
#: The largest hook event read (bytes): a bound on the hook's memory, 16 times the
#: server's default longest request (a server configured to take larger ones refuses
#: what is past its own limit, as before); a larger event is denied unread, by this hook
#: and by the native one (lighthouse/hooks/native/lighthouse-hook.c) alike.
MAX_EVENT = 64 * 1024 * 1024

USAGE = """\
usage: lighthouse hook claude-code [--socket PATH] [--server HOST:PORT] [--timeout SECONDS]
                                   [--wait SECONDS] [--rules PATH]... [--agent-id ID] [--defer]
                                   [--tls-ca PEM [--tls-cert PEM --tls-key PEM]]

Claude Code PreToolUse hook: reads the event JSON on stdin, prints the decision JSON.
  --socket PATH       the server's local socket (default: $LIGHTHOUSE_SOCKET, else the default path)
  --server HOST:PORT  the server's gRPC address, tried when the socket does not answer
                      (default: $LIGHTHOUSE_ADDR; none: go straight to the local decision)
  --timeout SECONDS   one deadline for the server to answer, or to say that it is deciding
                      (the call went to its policy or expert tier); without either, the hook
                      decides locally (default 1.5)
  --wait SECONDS      how long in all to wait for a call the server said it is deciding, at
                      most until the deadline it announced; past it the call gets the
                      server's fail-mode verdict, never allow (default 32; lighthouse hook
                      install writes it to fit the Claude Code timeout)
  --rules PATH        extra rule file or directory for the local decision (repeatable;
                      default: $LIGHTHOUSE_RULES, paths separated by ':')
  --agent-id ID       the agent id sent to the server (default: claude-code)
  --tls-ca PEM        talk TLS to --server, trusting this CA (default: $LIGHTHOUSE_TLS_CA)
  --tls-cert PEM, --tls-key PEM
                      client certificate and key for mutual TLS (default: $LIGHTHOUSE_TLS_CERT,
                      $LIGHTHOUSE_TLS_KEY). $LIGHTHOUSE_TOKEN is sent only over TLS or to a
                      loopback address: anything else is a misconfiguration, denied and named
  --defer             when Lighthouse allows, print no decision: Claude Code's own permission
                      rules and prompt apply (an "allow" from a hook skips its prompt)

The native client lighthouse/hooks/native/lighthouse-hook takes the same options, plus
--python PATH (the interpreter that runs this hook when the native client hands over).
"""


class _BadOption(Exception):
    pass


def parse_args(argv, environ):
    """The hook's options (argparse costs more start-up than the hook can spare)."""
    opts = {"socket": None, "server": environ.get(ADDR_ENV) or None, "timeout": DEADLINE, "wait": WAIT,
            "rules": [p for p in environ.get(RULES_ENV, "").split(os.pathsep) if p],
            "agent_id": AGENT_ID, "defer": False}
    opts.update((k, environ.get(e) or None) for k, e in TLS_ENV.items())
    cli_rules = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--defer":
            opts["defer"] = True
            continue
        name, eq, value = arg.partition("=")
        key = {"--socket": "socket", "--server": "server", "--timeout": "timeout", "--wait": "wait",
               "--rules": "rules", "--agent-id": "agent_id", "--tls-ca": "tls_ca", "--tls-cert": "tls_cert",
               "--tls-key": "tls_key"}.get(name)
        if key is None:
            raise _BadOption("unknown option %r" % arg)
        if not eq:
            if i >= len(argv):
                raise _BadOption("%s needs a value" % name)
            value = argv[i]
            i += 1
        if key in ("timeout", "wait"):
            try:
                value = float(value)
            except ValueError:
                raise _BadOption("%s needs a number of seconds, not %r" % (name, value)) from None
            top = 60 if key == "timeout" else MAX_WAIT
            if not 0 < value <= top:
                raise _BadOption("%s must be between 0 and %g seconds" % (name, top))
        if key == "rules":
            cli_rules.append(value)
        else:
            opts[key] = value
    if cli_rules:
        opts["rules"] = cli_rules
    if bool(opts["tls_cert"]) != bool(opts["tls_key"]):
        raise _BadOption("--tls-cert and --tls-key go together")
    if opts["tls_cert"] and not opts["tls_ca"]:
        raise _BadOption("--tls-cert needs --tls-ca")
    return opts


class _Misconfigured(Exception):
    """The hook cannot ask the server as configured; said in the answer, not worked around."""


def _channel(grpc, addr, opts, token):
    """A channel to ``addr``: TLS when a CA is configured; plaintext only without a token
    or to a loopback address (a token in clear on a network is given to anyone on it)."""
    if opts["tls_ca"]:
        try:
            files = {}
            for k in ("tls_ca", "tls_cert", "tls_key"):
                if opts[k]:
                    with open(opts[k], "rb") as fh:
                        files[k] = fh.read()
        except OSError as e:
            raise _Misconfigured("cannot read %s: %s" % (e.filename, e.strerror)) from None
        creds = grpc.ssl_channel_credentials(files["tls_ca"], files.get("tls_key"), files.get("tls_cert"))
        return grpc.secure_channel(addr, creds)
    if token and not loopback_target(addr):
        raise _Misconfigured("%s is set but %s is not a loopback address and no TLS CA is configured "
                             "(--tls-ca or %s): the token is not sent in clear"
                             % (TOKEN_ENV, addr, TLS_ENV["tls_ca"]))
    return grpc.insecure_channel(addr)


def decision_output(verdict, reason):
    """The PreToolUse answer Claude Code reads from stdout."""
    if len(reason) > MAX_REASON:
        reason = reason[:MAX_REASON - 3] + "..."
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": verdict,
                                   "permissionDecisionReason": reason}}


def _with_rule(reason, rule_id):
    return "%s [rule %s]" % (reason, rule_id) if rule_id else reason


def _read_call(raw, agent_id):
    """The hook event -> (call for the server, None), or (None, problem)."""
    if len(raw) > MAX_EVENT:
        return None, "hook input exceeds %d bytes" % MAX_EVENT
    try:
        payload = json.loads(raw)
    except RecursionError:
        return None, "hook input is nested too deeply"
    except ValueError as e:
        return None, "hook input is not valid JSON (%s)" % e
    if not isinstance(payload, dict):
        return None, "hook input must be a JSON object"
    event = payload.get("hook_event_name", "PreToolUse")
    if event != "PreToolUse":
        return None, "this hook handles PreToolUse events, not %r" % (event,)
    tool = payload.get("tool_name")
    if not isinstance(tool, str) or not tool:
        return None, "hook input has no tool_name"
    tool_input = payload.get("tool_input")
    if not isinstance(tool_input, dict):
        return None, "hook input's tool_input must be a JSON object"
    cwd = payload.get("cwd")
    session = payload.get("session_id")
    return {"tool": tool, "input": tool_input,
            "cwd": cwd if isinstance(cwd, str) and cwd else os.getcwd(),
            "session_id": session if isinstance(session, str) else None,
            "agent_id": agent_id,
            # `~` in a command means this user's home: the server cannot know it.
            "home": os.path.expanduser("~")}, None


def _ask_grpc(addr, call, timeout, wait, environ, opts):
    """The call over gRPC (imports grpc: ~100 ms, so only when configured and the socket
    did not answer), as the one call of a ValidateStream: a server that escalates it says
    so at once in the stream's initial metadata (a unary call's metadata arrives only with
    its answer). Returns a reply in the local protocol's shape. The server must answer, or
    say that it is deciding, within ``timeout``; then the answer gets until the deadline it
    announced (plus ANSWER_GRACE), at most ``max(wait, timeout)`` seconds in all
    (:class:`Undecided` past it)."""
    try:
        import threading

        import grpc

        from ..v1 import validation_pb2 as pb
        from ..v1 import validation_pb2_grpc as pb_grpc
        from ..vocab import FALLBACK_METADATA, PENDING_METADATA
    except ImportError as e:
        raise Unavailable("no gRPC client available (%s)" % e) from None
    token = environ.get(TOKEN_ENV)
    metadata = (("authorization", "Bearer " + token),) if token else None
    # With a token the server takes the agent's identity from it (a different agent_id
    # would be refused as impersonation).
    msg = pb.ToolCall(request_id="hook", agent_id="" if token else call["agent_id"] or "",
                      session_id=call["session_id"] or "", tool=call["tool"], input_json=json.dumps(call["input"]),
                      cwd=call["cwd"] or "", home=call["home"] or "")
    try:
        channel = _channel(grpc, addr, opts, token)
    except _Misconfigured:
        raise
    except Exception as e:          # a malformed address or certificate
        raise Unavailable("no gRPC channel to %s: %s" % (addr, e)) from None
    start = time.monotonic()
    where = "%s (gRPC)" % addr
    pending = None
    with channel:
        try:
            # The RPC's own deadline is a backstop past the waits below, which end the call
            # and say how long they waited (on the same deadline, a loaded machine's gRPC
            # timer could fire first and the reason said DEADLINE_EXCEEDED instead).
            rpc = pb_grpc.ValidatorStub(channel).ValidateStream(iter((msg,)), timeout=max(timeout, wait) + ANSWER_GRACE,
                                                                metadata=metadata)
        except Exception as e:      # a malformed address, a channel that cannot be made
            raise Unavailable("gRPC call to %s failed: %s" % (addr, e)) from None
        taken, answered, out = threading.Event(), threading.Event(), []

        def receive():
            # Blocking reads on a thread, so that each wait below has its own deadline.
            try:
                rpc.initial_metadata()
                taken.set()
                out.append(next(rpc, None))
            except BaseException as e:      # grpc.RpcError (a status), or a bug: reported below
                out.append(e)
            finally:
                taken.set()
                answered.set()

        threading.Thread(target=receive, daemon=True).start()
        if not taken.wait(timeout):
            rpc.cancel()
            raise Unavailable("%s: no answer within %.2fs" % (where, timeout))
        said = dict(rpc.initial_metadata() or ())
        until = start + timeout
        if PENDING_METADATA in said:
            try:
                announced = float(said[PENDING_METADATA])
            except ValueError:
                announced = None
            pending = {"deadline": announced if positive_seconds(announced) else None,
                       "fallback": said.get(FALLBACK_METADATA)}
            until = start + max(timeout, wait)
            if pending["deadline"] is not None:
                until = min(time.monotonic() + pending["deadline"] + ANSWER_GRACE, until)
        if not answered.wait(max(until - time.monotonic(), 0.0)):
            rpc.cancel()
            if pending is not None:
                raise undecided_error(pending, where, "no decision within %.1fs" % (time.monotonic() - start), wait)
            raise Unavailable("%s: no answer within %.2fs" % (where, timeout))
    d = out[0]
    if isinstance(d, grpc.RpcError):
        code = d.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
            if pending is not None:
                raise undecided_error(pending, where, code.name, wait)
            raise Unavailable("%s: %s" % (where, code.name))
        return {"error": code.name.lower(), "message": d.details() or ""}
    if isinstance(d, BaseException):
        if pending is not None:
            raise undecided_error(pending, where, "%s: %s" % (type(d).__name__, d), wait)
        raise Unavailable("gRPC call to %s failed: %s" % (addr, d))
    if d is None:
        what = "the stream ended without an answer"
        if pending is not None:
            raise undecided_error(pending, where, what, wait)
        raise Unavailable("%s: %s" % (where, what))
    if d.HasField("error"):
        # The server refused the call (too large, invalid, rate limited): the stream's
        # form of a unary call's status.
        name = next((c.name for c in grpc.StatusCode if c.value[0] == d.error.code), "code %d" % d.error.code)
        return {"error": name.lower(), "message": d.error.message}
    try:
        verdict = pb.Verdict.Name(d.verdict).removeprefix("VERDICT_").lower()
    except ValueError:
        verdict = ""
    return {"verdict": verdict, "reason": d.reason, "rule_id": d.rule_id}


def _ask_server(call, opts, environ):
    """(reply, refusal, problems): the first answer from the socket or gRPC: a decision,
    or the error a server answered instead (a refusal: an answer too, never a cue to ask
    elsewhere or to decide locally); (None, None, why each way failed) when no server
    answered. Raises :class:`Undecided` when a server said it was deciding the call but
    gave no decision in time: it is not asked elsewhere either."""
    start = time.monotonic()
    deadline = start + opts["timeout"]
    problems = []
    ways = [("socket", resolve_socket_path(opts["socket"], environ))]
    if opts["server"]:
        ways.append(("grpc", opts["server"]))
    for way, where in ways:
        now = time.monotonic()
        left = deadline - now
        if left <= 0:
            problems.append("no time left for %s" % where)
            break
        wait = opts["wait"] - (now - start)
        try:
            reply = ask(call, where, left, wait) if way == "socket" \
                else _ask_grpc(where, call, left, wait, environ, opts)
        except Unavailable as e:
            problems.append(str(e))
            continue
        if reply.get("verdict") in VERDICTS:
            return reply, None, problems
        return None, "%s: %s" % (reply.get("error") or "no verdict", reply.get("message") or ""), problems
    return None, None, problems


_local_validators: dict = {}


def _decide_locally(call, rules, socket_path):
    """The server's rules, in this process: (verdict, reason, rule_id). The server
    publishes its rule files and input bounds beside its socket (and leaves them there when
    it stops); the hook's own ``--rules`` come after them. A published policy that cannot
    be trusted or read leaves a person to decide. The validator is kept for later calls of
    a process that embeds :func:`run`."""
    try:
        policy = read_policy(socket_path) or {"rules": [], "packs": True}
    except Unavailable as e:
        return "ask", "the server's published policy cannot be used (%s); a person must decide" % e, ""
    kw = {k: policy[k] for k in ("window", "max_input") if k in policy}
    key = (tuple(policy["rules"]), tuple(rules), policy["packs"], tuple(sorted(kw.items())))
    v = _local_validators.get(key)
    if v is None:
        try:
            from ..validator import Validator
            v = _local_validators[key] = Validator(policy["rules"] + list(rules), packs=policy["packs"],
                                                   cache_size=0, **kw)
        except Exception as e:      # a broken rule file: a person decides, never an allow
            return "ask", "the local rules could not be loaded (%s); a person must decide" % e, ""
    d = v.check(call["tool"], call["input"], call["cwd"], call["agent_id"], call["home"])
    return d.verdict, d.reason, d.rule_id


def run(raw, argv=(), environ=None):
    """Decide one hook event (the bytes Claude Code wrote on stdin): returns the JSON
    object to print, or None for nothing (``--defer`` and an allow: Claude Code's own
    permission flow decides). Never raises for bad input and never allows what it cannot
    read."""
    environ = os.environ if environ is None else environ
    try:
        opts = parse_args(list(argv), environ)
    except _BadOption as e:
        return decision_output("ask", "lighthouse hook is misconfigured (%s); a person must decide" % e)
    out = _decide(raw, opts, environ)
    if opts["defer"] and out["hookSpecificOutput"]["permissionDecision"] == "allow":
        return None
    return out


def _decide(raw, opts, environ):
    call, problem = _read_call(raw, opts["agent_id"])
    if call is None:
        return decision_output("deny", "lighthouse: %s" % problem)
    try:
        reply, refusal, problems = _ask_server(call, opts, environ)
    except _Misconfigured as e:
        return decision_output("deny", "lighthouse hook is misconfigured: %s" % e)
    except Undecided as e:
        return _fail_mode(e, opts["wait"])
    if reply is not None:
        return decision_output(reply["verdict"],
                               _with_rule("lighthouse: %s" % reply.get("reason", ""), reply.get("rule_id")))
    if refusal is not None:
        # The server answered, and not with a verdict: a call it will not judge (too large,
        # invalid, over a rate limit, not authorized) must not run. Deciding locally instead
        # would judge it with what the server refused to judge it with.
        return decision_output("deny", "lighthouse server refused this call (%s)" % refusal)
    verdict, reason, rule_id = _decide_locally(call, opts["rules"], resolve_socket_path(opts["socket"], environ))
    verdict, reason = _spool(call, verdict, reason, rule_id, environ)
    print("lighthouse hook: %s" % "; ".join(problems), file=sys.stderr)
    return decision_output(verdict, _with_rule("lighthouse server unreachable; decided locally: %s" % reason,
                                               rule_id))


def _spool(call, verdict, reason, rule_id, environ):
    """Keep a local decision in the spool the server records in its audit log when it is
    back (lighthouse.audit.spool); one that cannot be kept is no allow."""
    from ..audit import spool
    if spool.append(call, verdict, "rules" if rule_id else "fallback", rule_id, reason,
                    spool.default_spool_path(environ)):
        return verdict, reason
    if verdict == "allow":
        return "ask", "%s (the decision cannot be recorded: the local spool is full or not writable; a person " \
                      "must decide)" % reason
    return verdict, reason


def _fail_mode(e, wait):
    """The answer for a call the server was deciding but gave no decision for in time: the
    verdict it gives when its slower tiers fail (ask or deny, never allow), with why the
    call was escalated and what went wrong (and how to wait longer, when the server's
    deadline is past ``wait``)."""
    print("lighthouse hook: %s" % e, file=sys.stderr)
    said = e.pending
    why = said.get("reason") if isinstance(said.get("reason"), str) else ""
    rule_id = said.get("rule_id") if isinstance(said.get("rule_id"), str) else ""
    text = "lighthouse: %s; %s" % (why or "escalated, fail-mode verdict %s" % e.fallback, e)
    announced = said.get("deadline")
    if positive_seconds(announced) and announced + ANSWER_GRACE > wait:
        import math
        text += " (lighthouse hook install --escalation-deadline %g lets the hook wait longer)" % math.ceil(announced)
    return decision_output(e.fallback, _with_rule(text, rule_id))


def main(argv=None):
    """Entry point of ``lighthouse hook claude-code`` and ``python -m
    lighthouse.hooks.claude_code``: always exits 0, with one JSON decision on stdout (or
    nothing: ``--defer`` and an allow)."""
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(USAGE)
        return 0
    try:
        out = run(sys.stdin.buffer.read(MAX_EVENT + 1), argv)
    except Exception as e:          # a bug must not become an allow, nor a hook error
        out = decision_output("ask", "lighthouse hook failed (%s: %s); a person must decide"
                              % (type(e).__name__, e))
    if out is not None:
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
