"""The local socket protocol: where the server's Unix socket lives, and a minimal client.

The server (``lighthouse.server.local``) answers on a Unix stream socket, one JSON object
per line each way, so that a client needs almost nothing: the Claude Code hook imports only
this module, and ``socat - UNIX-CONNECT:$SOCK`` or ``nc -U $SOCK`` work by hand.

Request (one line)::

    {"tool": "Bash", "input": {"command": "ls"}, "cwd": "/home/dev/app",
     "session_id": "...", "agent_id": "...", "home": "/home/dev", "id": 7, "progress": true}

``tool`` (non-empty string) and ``input`` (the tool_input object) are required; ``cwd``,
``session_id``, ``agent_id``, ``home`` are optional strings; ``id`` (optional) is echoed back;
``progress`` (optional boolean) asks for a pending line, below.

Reply (one line)::

    {"verdict": "deny", "reason": "...", "rule_id": "fs.rm-home", "tier": "rules",
     "generation": 1, "request_id": "local-9f2c01ab-42", "id": 7}

``request_id`` is the id the server gave the call (``local-`` a random part for the
server process's run, and a count), which the call's audit record carries.

or, for a request that cannot be decided, an error naming the problem, never a verdict::

    {"error": "invalid_argument", "field": "input", "message": "input must be a JSON object"}

Error codes: ``bad_json``, ``not_object``, ``too_large`` (the connection is then closed),
``invalid_argument`` (with ``field``), ``internal``. A connection may carry many requests,
answered in order.

A call the fast tiers do not settle goes to the server's slower tiers (policy, experts),
which may take up to the server's escalation deadline (30 s by default). With
``"progress": true`` the server then says so at once, before the reply, in a line that
carries no verdict::

    {"pending": true, "deadline": 31.0, "fallback": "ask", "reason": "...", "rule_id": "",
     "id": 7}

``deadline``: the seconds within which the server answers (at worst with ``fallback``, the
verdict it gives when its slower tiers fail or time out: ask or deny, never allow);
``reason``/``rule_id``: why the call was escalated. The reply follows on its own line.
So a client can tell a server that is deciding (wait for the reply, up to the deadline)
from one that does not answer (nothing within a short timeout: decide without it).
Without ``progress`` (socat, older clients) there is no pending line.

This module imports only the standard library modules the hook needs anyway, and from the
package only lighthouse.errors and lighthouse.vocab, which import nothing: its start-up
cost is the hook's.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time

# The C module under `socket`: socket.py adds nothing this client uses, and building its
# IntEnums costs the hook about 5 ms of CPU per tool call.
import _socket

from .errors import Undecided, Unavailable
from .vocab import VERDICTS

__all__ = ["SOCKET_ENV", "SOCKET_NAME", "DEFAULT_SOCKET_PATH", "MAX_REQUEST", "VERDICTS",
           "default_socket_path", "resolve_socket_path", "policy_path", "read_policy", "admin_token_path",
           "read_admin_token", "Unavailable", "Undecided", "ask", "ANSWER_GRACE",
           "undecided_error", "positive_seconds"]

SOCKET_ENV = "LIGHTHOUSE_SOCKET"
SOCKET_NAME = "lighthouse.sock"
# The longest request line the server reads by default: lighthouse.bounds.MAX_INPUT plus
# lighthouse.bounds.ENVELOPE (not imported, to keep this module's start-up cost nil).
MAX_REQUEST = 4 * 1024 * 1024 + 64 * 1024
#: Seconds a client gives the server past the deadline of its pending line, for the
#: reply to be written and to arrive on a loaded machine.
ANSWER_GRACE = 1.0


def loopback_target(target):
    """Whether a gRPC target names this machine: a loopback address, localhost or a Unix socket."""
    if target.startswith(("unix:", "unix-abstract:")):
        return True
    for scheme in ("dns:///", "ipv4:", "ipv6:"):
        if target.startswith(scheme):
            target = target[len(scheme):]
            break
    if target.startswith("["):
        host = target[1:].split("]", 1)[0]
    else:
        host = target.rsplit(":", 1)[0] if target.count(":") == 1 else target
    if host == "localhost":
        return True
    import ipaddress     # only here: the hook imports this module on every call
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def private_dir(parent, what="directory", sticky_ok=False):
    """Create ``parent`` (mode 0700) if missing, and refuse one that is a symbolic link,
    that another user owns, or that group or others can write to: whoever can write to
    the directory can replace what is in it. ``sticky_ok``: a sticky directory writable
    by others (such as /tmp) will do, for a socket, which others cannot remove there."""
    try:
        os.makedirs(parent, mode=0o700, exist_ok=True)
    except OSError as e:
        raise OSError(e.errno, "cannot create the %s %s: %s" % (what, parent, e.strerror)) from None
    st = os.lstat(parent)
    if stat.S_ISLNK(st.st_mode):
        raise PermissionError("%s %s is a symbolic link; give its real path" % (what, parent))
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError("%s %s is not a directory" % (what, parent))
    if st.st_uid not in (os.getuid(), 0):
        raise PermissionError("%s %s belongs to uid %d, not to this user" % (what, parent, st.st_uid))
    if st.st_mode & 0o022 and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        raise PermissionError("%s %s is writable by other users (mode %o)" % (what, parent, stat.S_IMODE(st.st_mode)))


def default_socket_path(environ=None):
    """``$XDG_RUNTIME_DIR/lighthouse.sock`` when XDG_RUNTIME_DIR is set (an absolute path),
    else ``/tmp/lighthouse-<uid>/lighthouse.sock``. Both directories belong to the user
    alone (the server creates the second with mode 0700 and refuses one it does not own)."""
    environ = os.environ if environ is None else environ
    run = environ.get("XDG_RUNTIME_DIR", "")
    if run and os.path.isabs(run):
        return os.path.join(run, SOCKET_NAME)
    return "/tmp/lighthouse-%d/%s" % (os.getuid(), SOCKET_NAME)


#: The socket the server binds and the hook asks when neither ``--socket`` nor
#: ``$LIGHTHOUSE_SOCKET`` says otherwise (computed from the environment at import).
DEFAULT_SOCKET_PATH = default_socket_path()


def resolve_socket_path(explicit=None, environ=None):
    """The socket to use: ``explicit`` (a ``--socket`` option), else ``$LIGHTHOUSE_SOCKET``,
    else :func:`default_socket_path`. Server and clients resolve it the same way."""
    environ = os.environ if environ is None else environ
    return explicit or environ.get(SOCKET_ENV) or default_socket_path(environ)


def _check_owner(path, st, what):
    uid = os.getuid()
    if st.st_uid not in (uid, 0):
        raise Unavailable("%s %s belongs to uid %d, not to this user" % (what, path, st.st_uid))


def trusted_socket(path):
    """Refuse a socket another user could have planted: the socket must be owned by this
    user (or root), in a directory owned by this user (or root) that others cannot write
    to (unless it is sticky, like /tmp)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise Unavailable("no server socket at %s" % path) from None
    except OSError as e:
        raise Unavailable("cannot stat %s: %s" % (path, e.strerror)) from None
    if not stat.S_ISSOCK(st.st_mode):
        raise Unavailable("%s is not a socket" % path)
    _check_owner(path, st, "socket")
    _check_parent(path, sticky_ok=True)


def _check_parent(path, sticky_ok):
    """Raise :class:`Unavailable` unless the directory of ``path`` is this user's (or
    root's) and others cannot write to it (a sticky one such as /tmp passes when
    ``sticky_ok``)."""
    parent = os.path.dirname(path) or "."
    try:
        pst = os.stat(parent)
    except OSError as e:
        raise Unavailable("cannot stat %s: %s" % (parent, e.strerror)) from None
    _check_owner(parent, pst, "directory")
    if pst.st_mode & 0o022 and not (sticky_ok and pst.st_mode & stat.S_ISVTX):
        raise Unavailable("directory %s is writable by other users" % parent)


def policy_path(socket_path):
    """Where the server publishes the policy it serves on ``socket_path``: the rule files
    and limits, so that a client deciding without it (the hook, when the server is down)
    applies the same ones."""
    return socket_path + ".policy.json"


def _private_file(path, what, sticky_dir=True):
    """Whether ``path`` exists (False if not); raises :class:`Unavailable` unless it is a
    regular file of this user (or root) that no one else can read or write, in a
    directory of this user (or root) that others cannot write to (a sticky one such as
    /tmp passes when ``sticky_dir``)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise Unavailable("cannot stat %s: %s" % (path, e.strerror)) from None
    if not stat.S_ISREG(st.st_mode):
        raise Unavailable("%s is not a regular file" % path)
    _check_owner(path, st, what)
    if st.st_mode & 0o077:
        raise Unavailable("%s %s is open to other users (mode %o)" % (what, path, stat.S_IMODE(st.st_mode)))
    _check_parent(path, sticky_dir)
    return True


def read_policy(socket_path):
    """The policy published beside ``socket_path`` (a dict: ``rules``, a list of paths;
    ``packs``; ``window``; ``max_input``; ``escalation_deadline``, seconds, when the server
    escalates to slower tiers), or None when there is none. Raises
    :class:`Unavailable` for a file that cannot be trusted or read: it must be a regular
    file of this user (or root) that no one else can read or write, in a directory like
    the socket's."""
    path = policy_path(socket_path)
    if not _private_file(path, "policy file"):
        return None
    try:
        with open(path, "rb") as fh:
            policy = json.loads(fh.read(1 << 20))
    except (OSError, ValueError) as e:
        raise Unavailable("cannot read policy file %s: %s" % (path, e)) from None
    if (not isinstance(policy, dict) or not isinstance(policy.get("rules"), list)
            or not all(isinstance(r, str) for r in policy["rules"]) or not isinstance(policy.get("packs"), bool)
            or any(k in policy and (type(policy[k]) is not int or policy[k] <= 0) for k in ("window", "max_input"))
            or ("escalation_deadline" in policy and not positive_seconds(policy["escalation_deadline"]))):
        raise Unavailable("policy file %s is malformed" % path)
    return policy


def positive_seconds(value):
    """A positive finite number of seconds (not a bool)."""
    return type(value) in (int, float) and 0 < value < float("inf")


def admin_token_path(socket_path):
    """Where a server without a tokens file writes the secret its Admin service requires
    (unless ``serve --admin-token-file`` names another place): beside ``socket_path``,
    whether or not the socket is served."""
    return socket_path + ".admin-token"


def read_admin_token(path):
    """The admin secret in the file at ``path`` (see :func:`admin_token_path`), or None
    when there is none. Raises :class:`Unavailable` for a file that cannot be trusted or
    read: a regular file of this user (or root) that no one else can read or write, in a
    directory of this user (or root) that others cannot write to."""
    if not _private_file(path, "admin token file", sticky_dir=False):
        return None
    try:
        with open(path, "rb") as fh:
            token = fh.read(1024).decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise Unavailable("cannot read admin token file %s: %s" % (path, e)) from None
    return token or None


def _check_peer(sock):
    """On Linux, the process at the other end must run as this user or root."""
    opt = getattr(_socket, "SO_PEERCRED", None)
    if opt is None:
        return
    creds = sock.getsockopt(_socket.SOL_SOCKET, opt, 12)
    peer_uid = int.from_bytes(creds[4:8], sys.byteorder)    # struct ucred {pid, uid, gid}
    if peer_uid not in (os.getuid(), 0):
        raise Unavailable("the server socket is served by uid %d, not by this user" % peer_uid)


def _read_line(sock, deadline, buf):
    """The next line from ``sock`` (without its newline; what is there at end of input or
    past :data:`MAX_REQUEST` bytes), and what was read after it. Raises TimeoutError past
    ``deadline``."""
    while b"\n" not in buf and len(buf) <= MAX_REQUEST:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""     # the server closed after refusing; what it said before is in buf
        if not chunk:
            break
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    return line, bytearray(rest)


def _decode(line, path):
    if not line:
        raise Unavailable("the server at %s closed the connection without answering" % path)
    try:
        reply = json.loads(line)
    except ValueError:
        raise Unavailable("the server at %s answered something that is not JSON" % path) from None
    if not isinstance(reply, dict):
        raise Unavailable("the server at %s answered a JSON %s, not an object" % (path, type(reply).__name__))
    return reply


def _is_pending(reply):
    return reply.get("pending") is True and "verdict" not in reply and "error" not in reply


def ask(call, path, timeout=1.5, wait=None):
    """Send one call to the server at ``path`` and return its reply (a dict: a decision
    with a verdict in :data:`VERDICTS`, or an error object with ``error``). Raises
    :class:`Unavailable` when there is no trustworthy server or no reply within
    ``timeout`` seconds (one deadline for connect, send and receive).

    ``wait`` (seconds from the start, or None): the server is asked for a pending line
    (``"progress": true``, see the module's docstring). Once it has said, within
    ``timeout``, that the call went to its slower tiers, the reply gets until the
    server's announced deadline plus :data:`ANSWER_GRACE`, but no more than
    ``max(wait, timeout)`` seconds from the start; when it does not come by then, or the
    server goes away meanwhile, :class:`Undecided` is raised with the fail-mode verdict
    the server announced (never allow). A server that does not say it is deciding gets
    ``timeout`` as before."""
    start = time.monotonic()
    deadline = start + timeout
    trusted_socket(path)
    if wait is not None:
        call = dict(call, progress=True)
    data = json.dumps(call, separators=(",", ":")).encode("utf-8", "surrogatepass") + b"\n"
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    pending = None
    buf = bytearray()
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        _check_peer(sock)
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            # The server stopped reading: it refuses a request over its size limit, says
            # so and closes. Its answer is waiting to be read; no answer is an error below.
            pass
        while True:
            line, buf = _read_line(sock, deadline, buf)
            reply = _decode(line, path)
            if pending is None and wait is not None and _is_pending(reply):
                pending = reply
                announced = reply.get("deadline")
                limit = start + max(wait, timeout)
                deadline = min(time.monotonic() + announced + ANSWER_GRACE, limit) if positive_seconds(announced) \
                    else limit
                continue
            return reply
    except TimeoutError:
        if pending is not None:
            waited = time.monotonic() - start
            raise undecided_error(pending, path, "no decision within %.1fs" % waited, wait) from None
        raise Unavailable("no answer from %s within %.2fs" % (path, timeout)) from None
    except Unavailable as e:
        if pending is not None:
            raise undecided_error(pending, path, str(e), wait) from None
        raise
    except OSError as e:
        if pending is not None:
            raise undecided_error(pending, path, "connection lost: %s" % (e.strerror or e), wait) from None
        raise Unavailable("cannot reach %s: %s" % (path, e.strerror or e)) from None
    finally:
        sock.close()


def undecided_error(pending, where, what, wait):
    """The :class:`Undecided` for a call the server at ``where`` said it was deciding
    (``pending``: what it said), given no decision because of ``what``."""
    announced = pending.get("deadline")
    msg = "the server at %s was deciding this call but gave no decision (%s)" % (where, what)
    if positive_seconds(announced) and wait is not None and announced + ANSWER_GRACE > wait:
        msg += "; it takes up to %gs, longer than this client waits (%.1fs)" % (announced, wait)
    return Undecided(msg, pending.get("fallback"), pending)
