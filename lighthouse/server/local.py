"""The local endpoint: the server's decisions over a Unix socket, one JSON line each way.

gRPC is the wire contract for agents anywhere; this endpoint is for clients on the same
machine that must start fast, above all the Claude Code hook (a process per tool call, which
cannot afford to import grpc). The protocol is described in :mod:`lighthouse.localsock`;
``socat - UNIX-CONNECT:$SOCK`` or ``nc -U $SOCK`` speak it by hand.

``lighthouse serve`` is to serve it next to gRPC, from the same decision path (so that the
decisions are audited there; ``lighthouse.server.core.Decider.decide_local`` is a ``decide``
for it). Server and clients find the socket the same way (:func:`resolve_socket_path`):
``--socket PATH``, else ``$LIGHTHOUSE_SOCKET``, else :data:`DEFAULT_SOCKET_PATH`, which is
``$XDG_RUNTIME_DIR/lighthouse.sock``, or ``/tmp/lighthouse-<uid>/lighthouse.sock`` when
XDG_RUNTIME_DIR is not set.

For development and benchmarks it also runs alone, backed by an in-process Validator::

    python -m lighthouse.server.local [--socket PATH] [--rules PATH ...] [--no-packs]
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import socket
import stat

from ..bounds import path_problem
from ..errors import SocketInUse
from ..localsock import (DEFAULT_SOCKET_PATH, MAX_REQUEST, SOCKET_ENV, default_socket_path, policy_path,
                         private_dir, resolve_socket_path)
from ..vocab import VERDICTS

__all__ = ["DEFAULT_SOCKET_PATH", "SOCKET_ENV", "MAX_REQUEST", "default_socket_path", "resolve_socket_path",
           "start_local_server", "stop_local_server", "validator_decide", "publish_policy", "SocketInUse"]

log = logging.getLogger("lighthouse.server.local")

IDLE_TIMEOUT = 300.0
_OPTIONAL_STRINGS = ("cwd", "session_id", "agent_id", "home")


def _clear_stale(path):
    """Remove a socket file left by a server that is gone; refuse to touch a live one or
    a file that is not a socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError("%s exists and is not a socket; not replacing it" % path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        pass                                    # nobody listens: stale
    except OSError as e:
        raise SocketInUse(e.errno, "cannot tell whether %s is in use: %s" % (path, e.strerror)) from None
    else:
        raise SocketInUse("a server already answers on %s" % path)
    finally:
        probe.close()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _bind(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # The umask makes the socket 0600 from birth; the chmod is for the record.
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
    except BaseException:
        sock.close()
        raise
    return sock


def _error(code, message, field=None, rid=None):
    out = {"error": code, "message": message}
    if field is not None:
        out["field"] = field
    if rid is not None:
        out["id"] = rid
    return out


def _parse(line):
    """A request line -> (call dict, request id, progress, None) or (None, None, False,
    error dict). ``progress``: the client asked for a pending line (lighthouse.localsock)."""
    try:
        call = json.loads(line)
    except RecursionError:
        return None, None, False, _error("bad_json", "request is nested too deeply")
    except ValueError as e:                     # includes UnicodeDecodeError
        return None, None, False, _error("bad_json", "request is not valid JSON: %s" % e)
    if not isinstance(call, dict):
        return None, None, False, _error("not_object", "request must be a JSON object, not a JSON %s"
                                         % ("array" if isinstance(call, list) else type(call).__name__))
    rid = call.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, (str, int))):
        return None, None, False, _error("invalid_argument", "id must be a string or an integer", "id")
    tool = call.get("tool")
    if not isinstance(tool, str) or not tool:
        return None, None, False, _error("invalid_argument", "tool must be a non-empty string", "tool", rid)
    tool_input = call.get("input")
    if not isinstance(tool_input, dict):
        return None, None, False, _error("invalid_argument", "input must be a JSON object (the tool_input)",
                                         "input", rid)
    progress = call.get("progress", False)
    if not isinstance(progress, bool):
        return None, None, False, _error("invalid_argument", "progress must be true or false", "progress", rid)
    out = {"tool": tool, "input": tool_input}
    for key in _OPTIONAL_STRINGS:
        val = call.get(key)
        if val is not None and not isinstance(val, str):
            return None, None, False, _error("invalid_argument", "%s must be a string" % key, key, rid)
        out[key] = val
        if key in ("cwd", "home") and path_problem(key, val):
            return None, None, False, _error("invalid_argument", path_problem(key, val), key, rid)
    return out, rid, progress, None


async def _say_pending(result, rid, writer):
    """Tell the client its call went to a slower tier: the pending line, with what
    ``result`` (the awaitable decide() returned) says in its ``progress`` attribute."""
    note = {"pending": True}
    note.update(getattr(result, "progress", None) or {})
    if rid is not None:
        note["id"] = rid
    try:
        writer.write(_encode(note))
        await writer.drain()
    except BaseException:
        # The client is gone: the decision will not be awaited, so do not leave it
        # half-started (a coroutine never awaited warns).
        close = getattr(result, "close", None)
        if close is not None:
            close()
        raise


async def _answer(line, decide, writer):
    call, rid, progress, err = _parse(line)
    if err is not None:
        return err
    try:
        result = decide(call)
    except Exception as e:
        return _failed(e, call, rid)
    if inspect.isawaitable(result):
        # An awaitable without ``progress`` is no escalation (an answer held for its audit
        # record's commit, lighthouse.server.core.Decider): no pending line.
        if progress and getattr(result, "progress", None) is not None:
            await _say_pending(result, rid, writer)
        try:
            result = await result
        except Exception as e:
            return _failed(e, call, rid)
    if not isinstance(result, dict) or result.get("verdict") not in VERDICTS:
        log.error("decide() returned no valid verdict: %r", result)
        return _error("internal", "the server produced no valid verdict", rid=rid)
    reply = {"verdict": result["verdict"], "reason": result.get("reason", ""),
             "rule_id": result.get("rule_id", ""), "tier": result.get("tier", ""),
             "generation": result.get("generation", 0)}
    if result.get("request_id"):
        reply["request_id"] = result["request_id"]
    if rid is not None:
        reply["id"] = rid
    return reply


def _failed(e, call, rid):
    """The error reply for a decide() that raised ``e``."""
    status = getattr(getattr(e, "code", None), "name", None)
    if isinstance(status, str):
        # A rejection with a status code (lighthouse.server.core.CallRejected: rate
        # limited, invalid field, ...): named for the client like a gRPC status.
        return _error(status.lower(), str(e), getattr(e, "field", None) or None, rid)
    log.exception("decide() failed for a %s call", call["tool"])
    return _error("internal", "the server failed to decide this call", rid=rid)


def _encode(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8", "surrogatepass") + b"\n"


async def _serve_client(reader, writer, decide, max_request, idle_timeout):
    try:
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), idle_timeout)
            except ValueError:
                # Longer than max_request: what follows cannot be trusted to be framed.
                writer.write(_encode(_error("too_large", "request line exceeds %d bytes" % max_request)))
                await writer.drain()
                break
            except asyncio.TimeoutError:
                break
            if not line:
                break
            if not line.strip():
                continue
            writer.write(_encode(await _answer(line, decide, writer)))
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    except Exception:
        log.exception("local socket client failed")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def start_local_server(path, decide, *, max_request=MAX_REQUEST, idle_timeout=IDLE_TIMEOUT, backlog=128):
    """Serve ``decide`` on a Unix socket at ``path`` and return the asyncio Server.

    ``decide(call) -> dict`` (or an awaitable of one) gets a validated call with keys
    ``tool``, ``input`` (a dict), ``cwd``, ``session_id``, ``agent_id``, ``home`` (strings
    or None) and returns ``verdict`` (allow/ask/deny), ``reason``, ``rule_id``, ``tier`` and
    ``generation``, and may return ``request_id`` (the server's id of the call, which its
    audit record carries). When the call goes to a slower tier, decide() returns an awaitable,
    whose ``progress`` attribute (a dict: ``deadline``, ``fallback``, ``reason``,
    ``rule_id``) makes the pending line sent to a client that asked for it
    (``"progress": true``, see lighthouse.localsock); an awaitable without one sends
    none. A decide() that raises or
    returns no valid verdict gives the client an error, never an allow: an exception with
    a status ``code`` (an enum, such as ``grpc.StatusCode.RESOURCE_EXHAUSTED``) and
    ``field`` is reported under that code's name in lower case, anything else as
    ``internal``.

    The socket is created with mode 0600 in a directory this user owns (created 0700 when
    missing); a stale socket file left by a dead server is replaced, a live one raises
    :class:`SocketInUse`. Lines longer than ``max_request`` bytes get a ``too_large`` error
    and the connection is closed; idle connections close after ``idle_timeout`` seconds.
    Stop with :func:`stop_local_server`, which also removes the socket file.
    """
    path = os.path.abspath(os.fspath(path))
    private_dir(os.path.dirname(path), "socket directory", sticky_ok=True)
    _clear_stale(path)
    sock = _bind(path)
    ino = os.lstat(path).st_ino

    conns = {}   # connection task -> its writer

    async def handler(reader, writer):
        task = asyncio.current_task()
        conns[task] = writer
        try:
            await _serve_client(reader, writer, decide, max_request, idle_timeout)
        finally:
            conns.pop(task, None)

    try:
        server = await asyncio.start_unix_server(handler, sock=sock, limit=max_request, backlog=backlog)
    except BaseException:
        sock.close()
        _unlink_if(path, ino)
        raise
    _bound[server] = (path, ino, conns)
    return server


# server -> (socket path, inode, open connections), for stop_local_server. Kept here rather
# than on the server object: uvloop's Server takes no new attributes.
_bound: dict = {}


def _unlink_if(path, ino):
    try:
        if os.lstat(path).st_ino == ino:
            os.unlink(path)
    except FileNotFoundError:
        pass


async def stop_local_server(server):
    """Stop accepting, close the server and remove its socket file (unless another
    server has bound the path since)."""
    server.close()
    await server.wait_closed()
    path, ino, conns = _bound.pop(server, (None, None, {}))
    # Python 3.11's wait_closed() does not wait for open connections: close them so that
    # each connection task ends on its own (end of input) before the server is gone.
    tasks = list(conns)
    for writer in list(conns.values()):
        writer.close()
    if tasks:
        await asyncio.wait(tasks, timeout=2.0)
    if path:
        _unlink_if(path, ino)


def publish_policy(socket_path, rules, packs, window, max_input, escalation_deadline=None):
    """Write the policy served on ``socket_path`` beside it (lighthouse.localsock.policy_path):
    absolute rule paths, whether the packs are loaded, the input bounds, and, when the
    server escalates calls to slower tiers, its ``escalation_deadline`` in seconds (which
    ``lighthouse hook install`` reads to give the hook time to wait). Owner-only (0600),
    replaced atomically. It stays when the server stops: the hook, deciding alone while the
    server is down, must apply the same rules, not only the shipped packs."""
    path = policy_path(os.path.abspath(os.fspath(socket_path)))
    policy = {"rules": [os.path.abspath(os.fspath(r)) for r in rules], "packs": bool(packs),
              "window": window, "max_input": max_input}
    if escalation_deadline:
        policy["escalation_deadline"] = float(escalation_deadline)
    data = json.dumps(policy, indent=1) + "\n"
    tmp = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def validator_decide(validator):
    """A ``decide`` function backed by an in-process :class:`lighthouse.Validator`."""
    check = validator.check

    def decide(call):
        d = check(call["tool"], call["input"], call["cwd"], call["agent_id"], call["home"])
        return {"verdict": d.verdict, "reason": d.reason, "rule_id": d.rule_id, "tier": d.tier,
                "generation": d.generation}

    return decide


def main(argv=None):
    import argparse
    import signal

    from ..validator import Validator

    p = argparse.ArgumentParser(prog="python -m lighthouse.server.local",
                                description="Serve the in-process validator on the local socket "
                                            "(development, benchmarks).")
    p.add_argument("--socket", help="socket path (default: $%s, else %s)" % (SOCKET_ENV, DEFAULT_SOCKET_PATH))
    p.add_argument("--rules", action="append", metavar="PATH", help="extra rule file or directory (repeatable)")
    p.add_argument("--no-packs", action="store_true", help="do not load the shipped rule packs")
    args = p.parse_args(argv)
    path = resolve_socket_path(args.socket)
    decide = validator_decide(Validator(args.rules or (), packs=not args.no_packs))

    async def run():
        server = await start_local_server(path, decide)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print("lighthouse: local endpoint on %s" % path, flush=True)
        await stop.wait()
        await stop_local_server(server)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
