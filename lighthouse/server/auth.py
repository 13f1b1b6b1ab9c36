"""Bearer tokens and per-agent rate limits.

Tokens file format (``--tokens FILE``), one token per line::

    # comment lines and blank lines are ignored
    <agent_id> sha256:<64 hex digits> [role ...]

The file stores only the SHA-256 of each token, never the token. A client sends the token
itself as ``authorization: Bearer <token>`` metadata; the server hashes it and looks the
hash up. The line's ``agent_id`` is the token's identity: a call whose ``agent_id`` is set
to anything else is PERMISSION_DENIED (an empty ``agent_id`` takes the token's). An agent
may have several lines (token rotation).

Roles: ``agent`` (the Validator service: asking about tool calls), ``admin`` (the Admin
service: policy reload, stats), ``expert`` (the ExpertHub service: judging escalated
calls, lighthouse.experts.hub) and ``person`` (an expert that is a person, at the
console: implies ``expert``; only a stream of a token with this role that says
``ExpertHello.person`` is counted as a person when learned patterns are taught, so that
one answer of it may activate a pattern). A line without ``expert`` is an agent's token whatever
else it lists (so that files written before roles existed keep working: no role is
``agent``, ``admin`` is ``agent admin``); a line listing ``expert`` has the roles it
lists only (``expert``: an expert that cannot ask about its own calls). A token without
the role a service needs is PERMISSION_DENIED there. ``lighthouse tokens add AGENT_ID
--file FILE [--admin] [--expert] [--person]`` creates a token, appends its line and prints the
token once; ``lighthouse tokens revoke`` removes lines.

The file must not be writable by other users (whoever can write it can mint identities);
it is read again on SIGHUP and on Admin.ReloadPolicy.

Without a tokens file, the Admin service still needs a credential: :class:`AdminSecret`,
a random secret the server makes at start and writes owner-only beside its local socket
(``<socket>.admin-token``, see lighthouse.localsock.admin_token_path), where the clients
of its owner find it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
import time

from ..errors import TokenFileError
from ..localsock import private_dir

__all__ = ["TokenStore", "TokenFileError", "Identity", "ROLES", "RateLimiter", "AdminSecret", "hash_token", "new_token",
           "add_token", "revoke_tokens", "parse_bearer", "AGENT_ID_RE"]

AGENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:/+-]{0,127}\Z")
_HASH_RE = re.compile(r"sha256:([0-9a-f]{64})\Z")
TOKEN_PREFIX = "lh_"


ROLES = ("agent", "admin", "expert", "person")


class Identity:
    """Who a token belongs to, and its roles (``agent``, ``admin``, ``expert``, ``person``:
    an expert that is a person)."""

    __slots__ = ("agent_id", "admin", "agent", "expert", "person")

    def __init__(self, agent_id, admin=False, *, agent=True, expert=False, person=False):
        self.agent_id = agent_id
        self.admin = admin
        self.agent = agent
        self.expert = expert or person
        self.person = person

    @property
    def roles(self):
        return tuple(r for r in ROLES if getattr(self, r))

    def __repr__(self):
        return "Identity(%r, %s)" % (self.agent_id, "+".join(self.roles) or "no role")


def _roles(flags):
    """(agent, admin, expert, person) of a line's role words (see the module docstring):
    ``person`` implies ``expert``."""
    person = "person" in flags
    expert = person or "expert" in flags
    return (not expert or "agent" in flags), "admin" in flags, expert, person


def hash_token(token):
    """The form a token is stored in: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token():
    """A fresh random token (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_bearer(value):
    """The token of an ``authorization`` metadata value, or None if not a Bearer token."""
    if len(value) > 7 and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def _check_file_mode(path):
    st = os.stat(path)
    if st.st_mode & 0o022:
        raise TokenFileError("%s: writable by group or other users (mode %o); "
                             "run `chmod 600 %s`" % (path, stat.S_IMODE(st.st_mode), path))


def _parse_lines(path, text):
    by_hash = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        where = "%s:%d" % (path, lineno)
        if not 2 <= len(parts) <= 2 + len(ROLES):
            raise TokenFileError("%s: expected '<agent_id> sha256:<hex> [agent] [admin] [expert] [person]'" % where)
        agent_id, digest = parts[0], parts[1]
        if not AGENT_ID_RE.match(agent_id):
            raise TokenFileError("%s: agent_id %r: use 1-128 of [A-Za-z0-9._@:/+-]" % (where, agent_id))
        if not _HASH_RE.match(digest):
            raise TokenFileError("%s: token hash must be sha256:<64 lowercase hex digits>" % where)
        flags = parts[2:]
        for flag in flags:
            if flag not in ROLES:
                raise TokenFileError("%s: unknown role %r (agent, admin, expert or person)" % (where, flag))
        if len(set(flags)) != len(flags):
            raise TokenFileError("%s: a role is listed twice" % where)
        if digest in by_hash and by_hash[digest].agent_id != agent_id:
            raise TokenFileError("%s: the same token is listed for two agents" % where)
        agent, admin, expert, person = _roles(flags)
        by_hash[digest] = Identity(agent_id, admin, agent=agent, expert=expert, person=person)
    return by_hash


class TokenStore:
    """The tokens of a tokens file, by hash."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._by_hash = {}
        self.generation = 0         # counts the mappings put in force
        self.load()

    def load(self):
        """Read the file again; on error the tokens in force stay and TokenFileError is raised."""
        self.replace(self.read())

    def replace(self, by_hash):
        """Put a mapping made by :meth:`read` in force."""
        self._by_hash = by_hash
        self.generation += 1

    def read(self):
        """Parse the file without putting it in force: the new {hash: Identity} mapping."""
        try:
            _check_file_mode(self.path)
            with open(self.path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as e:
            raise TokenFileError("%s: %s" % (self.path, e.strerror or e)) from None
        except UnicodeDecodeError:
            raise TokenFileError("%s: not UTF-8 text" % self.path) from None
        return _parse_lines(self.path, text)

    def __len__(self):
        return len(self._by_hash)

    def items(self):
        """(hash, Identity) pairs of the tokens in force."""
        return list(self._by_hash.items())

    def identify(self, token):
        """The Identity of a token, or None."""
        if not token:
            return None
        return self._by_hash.get(hash_token(token))


def add_token(path, agent_id, admin=False, token=None, expert=False, agent=None, person=False):
    """Append a line for a new token (created unless given) to the tokens file, creating
    the file with mode 0600 if needed, and return the token. ``expert``: the token has
    the expert role, and the agent role only if ``agent`` is true (default: an agent
    token unless it is an expert's). ``person``: an expert's token that is a person's
    (the role ``person``, which implies ``expert``)."""
    if not AGENT_ID_RE.match(agent_id):
        raise TokenFileError("agent_id %r: use 1-128 of [A-Za-z0-9._@:/+-]" % agent_id)
    token = token or new_token()
    path = os.fspath(path)
    if os.path.exists(path):
        _check_file_mode(path)
        with open(path, encoding="utf-8") as fh:
            _parse_lines(path, fh.read())
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        if fh.tell() == 0:
            fh.write("# Lighthouse tokens: <agent_id> sha256:<hex of the token> [agent] [admin] [expert] [person]\n")
        expert = expert or person
        if agent is None:
            agent = not expert
        roles = [r for r, on in (("agent", agent and expert), ("admin", admin), ("expert", expert and not person),
                                 ("person", person)) if on]
        if not agent and not expert:
            raise TokenFileError("a token needs the agent or the expert role")
        fh.write("%s %s%s\n" % (agent_id, hash_token(token), "".join(" " + r for r in roles)))
    return token


def revoke_tokens(path, agent_id=None, token=None):
    """Remove the lines of an agent (every token of it) or of one token; return how many."""
    path = os.fspath(path)
    _check_file_mode(path)
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines(keepends=True)
    digest = hash_token(token) if token else None
    kept, removed = [], 0
    for line in lines:
        parts = line.split()
        if parts and not parts[0].startswith("#") and len(parts) >= 2 and (
                (agent_id is not None and parts[0] == agent_id) or (digest is not None and parts[1] == digest)):
            removed += 1
            continue
        kept.append(line)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(kept)
    os.replace(tmp, path)
    return removed


class AdminSecret:
    """The credential of the Admin service when no tokens file is configured: a random
    secret, made once per server (the worker supervisor makes it and hands it to its
    workers), that callers send as ``authorization: Bearer <secret>``.

    :meth:`write` puts it in an owner-only file for the clients of the server's owner;
    :meth:`remove` deletes that file again, unless it has been replaced since. Only the
    SHA-256 of the secret is compared, in constant time."""

    def __init__(self, secret=None):
        # (hex: a secret never starts with "-", which a command line would read as an option)
        self._secret = secret or secrets.token_hex(32)
        self._digest = hashlib.sha256(self._secret.encode("ascii")).digest()
        self.path = None            # the file it was written to
        self._written = None        # (st_dev, st_ino) of that file

    def __repr__(self):
        return "AdminSecret(path=%r)" % self.path

    def __getstate__(self):
        # Handed to worker processes (pickled over multiprocessing's spawn pipe, never in
        # argv); a worker neither writes nor removes the file.
        return {"_secret": self._secret, "_digest": self._digest, "path": self.path, "_written": None}

    def check(self, token):
        """Whether ``token`` (a str or None) is the secret."""
        if not token:
            return False
        given = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        return hmac.compare_digest(given, self._digest)

    def write(self, path):
        """Write the secret to ``path`` (mode 0600, replacing a file left there) in a
        directory of this user that no one else can write to (created 0700 if missing)."""
        path = os.path.abspath(os.fspath(path))
        private_dir(os.path.dirname(path))
        tmp = "%s.%d.tmp" % (path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, self._secret.encode("ascii") + b"\n")
            st = os.fstat(fd)
            os.close(fd)
            fd = None
            os.replace(tmp, path)
        except BaseException:
            if fd is not None:
                os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.path = path
        self._written = (st.st_dev, st.st_ino)
        return path

    def remove(self):
        """Delete the file :meth:`write` made, if it is still that file with this secret
        (another server may have written its own there since)."""
        written, self._written = self._written, None
        if written is None:
            return False
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) != written or not stat.S_ISREG(st.st_mode):
                return False
            with open(self.path, "rb") as fh:
                if fh.read(1024).strip() != self._secret.encode("ascii"):
                    return False
            os.unlink(self.path)
        except OSError:
            return False
        return True


class RateLimiter:
    """A token bucket per agent: ``rate`` calls per second, bursts up to ``burst``.

    The table is bounded: past ``max_agents`` entries, buckets that have refilled (idle
    agents) are dropped, so that callers inventing agent ids cannot grow it without end."""

    def __init__(self, rate, burst=None, max_agents=100_000, clock=time.monotonic):
        self.rate = float(rate)
        self.burst = float(burst if burst else max(1.0, 2 * self.rate))
        self.max_agents = max_agents
        self._clock = clock
        self._buckets = {}

    def allow(self, key, n=1):
        """Take n tokens from key's bucket; False (and nothing taken) if it has too few."""
        now = self._clock()
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= self.max_agents:
                self._prune(now)
            b = self._buckets[key] = [self.burst, now]
        tokens = b[0] + (now - b[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        b[1] = now
        if tokens < n:
            b[0] = tokens
            return False
        b[0] = tokens - n
        return True

    def _prune(self, now):
        full = [k for k, (tokens, t) in self._buckets.items() if tokens + (now - t) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.max_agents:
            self._buckets.clear()
