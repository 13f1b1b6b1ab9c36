"""The errors Lighthouse raises, with one base: ``except LighthouseError`` catches them all.

Each is also importable from the module that raises it (``lighthouse.RuleError``,
``lighthouse.client.CallError``, ``lighthouse.server.auth.TokenFileError``, ...); those are
the same classes. Errors that are also a kind of built-in error derive from it too
(a RuleError is a ValueError, SocketInUse an OSError), so existing ``except`` clauses
keep working.

This module imports nothing, so that the hook (through lighthouse.localsock) and the
compiled hot path can import it at no cost and without a cycle. The hot path's own
errors (lighthouse._fast._errors.ShellError and LimitError, the wire decoder's WireError)
and the hook's (lighthouse.hooks) do not derive from it yet.
"""

__all__ = ["LighthouseError", "RuleError", "ConfigError", "TokenFileError", "ReloadError", "ReloadThrottled",
           "CallRejected", "CallError", "Unavailable", "Undecided", "SocketInUse"]


class LighthouseError(Exception):
    """The base of every error Lighthouse raises on purpose."""


# ---------------------------------------------------------------- policy and configuration

class RuleError(LighthouseError, ValueError):
    """A rule file that cannot be used: ``file:line: reason`` (``path``, ``line``, ``reason``)."""

    def __init__(self, path, line, reason):
        self.path = str(path)
        self.line = line
        self.reason = reason
        super().__init__("%s:%s: %s" % (self.path, line if line else "?", reason))


class ConfigError(LighthouseError, ValueError):
    """A server configuration that must not run (the message says why)."""


class TokenFileError(LighthouseError, ValueError):
    """The tokens file cannot be used; the message names the file and line."""


class ReloadError(LighthouseError):
    """A reload was refused (a rule file or the tokens file has an error); the running
    policy and tokens stay in force."""


class ReloadThrottled(LighthouseError):
    """A reload asked through Admin sooner than ``interval`` seconds after the last one."""

    def __init__(self, interval, retry_in):
        super().__init__("reloads through Admin are limited to one per %gs; retry in %d ms"
                         % (interval, max(1, round(retry_in * 1000))))


# ---------------------------------------------------------------- calls

class CallRejected(LighthouseError):
    """A call the server cannot decide: a gRPC status ``code`` (a grpc.StatusCode), a
    ``message`` and the ``field`` at fault ("" when no field is)."""

    def __init__(self, code, message, field=""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class CallError(LighthouseError):
    """A call the server did not decide, as a client sees it: ``code`` (a
    grpc.StatusCode), ``message``, ``field`` (the offending field for INVALID_ARGUMENT,
    else ""), ``request_id``."""

    def __init__(self, code, message, field="", request_id=""):
        super().__init__("%s: %s" % (code.name, message))
        self.code = code
        self.message = message
        self.field = field
        self.request_id = request_id

    @classmethod
    def from_rpc_error(cls, e, request_id=""):
        field = ""
        try:
            for key, value in e.trailing_metadata() or ():
                if key == "lighthouse-field":
                    field = value
        except Exception:  # a locally generated error may have no metadata
            pass
        return cls(e.code(), e.details() or "", field, request_id)


# ---------------------------------------------------------------- the local socket

class Unavailable(LighthouseError):
    """The server could not be reached, or gave no usable answer in time."""


class Undecided(LighthouseError):
    """The server took the call and said it was deciding it (a slower tier: policy,
    experts), but no decision came in time, or the server went away before giving one.
    Not an :class:`Unavailable`: the server was there, so the call gets ``fallback``, the
    verdict the server said it answers when its slower tiers fail ("ask" or "deny", never
    "allow"), rather than a decision made elsewhere. ``pending``: what the server said
    (a dict: ``deadline``, ``fallback``, ``reason``, ``rule_id``)."""

    def __init__(self, message, fallback="ask", pending=None):
        super().__init__(message)
        self.fallback = fallback if fallback == "deny" else "ask"
        self.pending = pending or {}


class SocketInUse(LighthouseError, OSError):
    """Another server already answers on the socket path."""
