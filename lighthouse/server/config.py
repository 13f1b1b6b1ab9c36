"""The server's configuration: :class:`ServerConfig` (what ``lighthouse serve`` takes),
:class:`Limits` (per-call and per-RPC limits), and the checks that refuse a configuration
that must not run (:func:`check_config`) or an address that cannot be bound
(:func:`bind_error`) before anything starts.

This module imports nothing of the server: the wiring (lighthouse.server.app), the entry
point (lighthouse.server.main) and the workers all read it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import resource
import socket
from dataclasses import dataclass, field

from ..bounds import ENVELOPE, MAX_INPUT, WINDOW
from ..errors import ConfigError
from ..vocab import VERDICTS

__all__ = ["ServerConfig", "Limits", "ConfigError", "check_config", "is_loopback", "bind_error",
           "raise_fd_limit", "connection_cap", "FD_RESERVE", "GC_THRESHOLDS", "parse_gc_thresholds", "ANY_PORT"]

log = logging.getLogger("lighthouse.server")

#: ``metrics_port`` of a metrics endpoint on any free port (``--metrics-port any``; 0 turns
#: the endpoint off). The port bound is in the "serving" log line and the ready file.
ANY_PORT = -1

# Allocations between collections of the youngest generation, then collections of each
# generation between collections of the next (CPython's defaults: 700, 10, 10).
GC_THRESHOLDS = (5000, 10, 250)


def parse_gc_thresholds(text):
    """``G0,G1,G2`` (three positive integers) as a tuple; ValueError naming what is wrong."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 3:
        raise ValueError("--gc-thresholds takes three numbers G0,G1,G2 (got %r)" % text)
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError("--gc-thresholds takes three integers G0,G1,G2 (got %r)" % text) from None
    if any(v < 1 or v > 10_000_000 for v in values):
        raise ValueError("--gc-thresholds: each number must be 1-10000000 (got %r); a threshold of 0 "
                         "would turn the collector off and let reference cycles pile up" % text)
    return values


@dataclass(frozen=True)
class Limits:
    """Per-call field limits (characters) and per-RPC limits. A call over a limit is
    INVALID_ARGUMENT naming the field; a message over ``max_message_bytes`` is
    RESOURCE_EXHAUSTED (lighthouse.server.service.validator_handler). ``max_input_json`` is also the Validator's
    ``max_input`` and ``input_window`` its ``window`` (see lighthouse.bounds); the local
    socket takes request lines of up to ``max_input_json`` + ENVELOPE bytes."""

    max_id: int = 128               # request_id, agent_id, session_id
    max_tool: int = 256
    max_input_json: int = MAX_INPUT
    input_window: int = WINDOW
    max_path: int = 4096            # cwd, home
    max_batch: int = 1000           # calls per ValidateBatch
    max_stream_pending: int = 1024  # escalated calls in flight per stream before reading pauses
    max_message_bytes: int = MAX_INPUT + ENVELOPE

    @property
    def max_local_request(self):
        """The longest request line the local socket reads (bytes)."""
        return self.max_input_json + ENVELOPE


@dataclass
class ServerConfig:
    """Everything ``lighthouse serve`` takes. Defaults are the safe ones: loopback only,
    no TLS needed there, rate limits on."""

    host: str = "127.0.0.1"
    port: int = 50051
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464             # 0: no metrics endpoint; ANY_PORT: any free port
    workers: int = 1
    tokens: str | None = None
    rules: tuple = ()
    packs: bool = True
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None     # given: clients must present a certificate it signed
    socket: str | None = None            # local endpoint path; None: the default path
    local_socket: bool = True            # serve the local endpoint at all
    grace: float = 5.0                   # seconds to drain in-flight calls on shutdown
    rate_limit: float = 2000.0           # calls/s per agent; 0 disables
    rate_burst: float | None = None      # default: twice the rate
    fallback: str = "ask"
    cache_size: int = 65536
    cache_ttl: float = 300.0
    limits: Limits = field(default_factory=Limits)
    helper_nice: int = 0                 # niceness of the helper threads (lighthouse.server.threads); 0: off
    insecure: bool = False               # allow bearer tokens in clear text on a non-loopback address
    max_connections: int = 4096          # gRPC connections at once (lowered to fit the fd limit)
    handshake_timeout: float = 5.0       # seconds a new connection has to complete its handshake
    idle_timeout: float = 300.0          # seconds a connection without calls stays open
    # Calls (a stream's opening included) that have arrived but that the event loop has not
    # taken up yet; past it gRPC refuses new ones with CANCELLED (its own default, 1,000 to
    # 3,000, refused streams of a 10,000-agent load while escalations kept the loop busy).
    max_pending_calls: int = 20000
    # The garbage collector's thresholds once serving (lighthouse.server.runtime).
    gc_thresholds: tuple = GC_THRESHOLDS
    gc_follow_streams: bool = True       # freeze again as the open streams grow (lighthouse.server.runtime)
    gc_paced: bool = True                # collect the young generations on a timer (lighthouse.server.runtime)
    reload_interval: float = 1.0         # seconds between reloads asked through Admin or SIGHUP; 0: no limit
    reflection: bool | None = None       # server reflection; None: on unless tokens are configured
    admin_token_file: str | None = None  # without tokens: where the admin secret goes; None: beside the socket
    # JSON lines of the decisions but allows (lighthouse.server.decisionlog); "-": stderr
    decision_log: str | None = None
    # The policy tier (lighthouse.policy) behind the escalation pipeline: off unless asked
    # for here; `lighthouse serve` turns it on (--no-policy turns it off).
    policy: bool = False
    policy_dirs: tuple = ()              # users' policy directories (.rego, data.json)
    opa_url: str | None = None           # an OPA server instead of the embedded regorus
    policy_processes: int = 2            # regorus worker processes (it holds the GIL)
    policy_nice: int = 5                 # their niceness above the server's: the fast tiers come first
    policy_deadline: float = 0.05        # seconds the policy tier has for one call
    escalation_deadline: float = 30.0    # seconds all slower tiers have for one call
    escalation_cache_ttl: float = 3600.0  # seconds a slower tier's decision is reused
    escalation_queue: int = 1024         # escalations at once; past it, the fail mode at once
    # The expert tier (lighthouse.experts): ExpertHub served on the gRPC port. Off unless
    # asked for here; `lighthouse serve` passes None (automatic: on when the server has no
    # tokens file, for loopback experts only, or its tokens file has a token with the
    # expert role) unless given --experts-hub / --no-experts-hub. Never with workers > 1
    # (hub_enabled): an expert's stream would reach one worker of the N.
    experts_hub: bool | None = False
    expert_combine: str = "strict"       # strict (deny > ask > allow) or majority
    expert_min_confidence: float = 0.0   # answers below it count as ask
    expert_max_pending: int = 64         # escalations one connected expert holds at most
    max_experts: int = 256               # experts registered at once
    expert_heartbeat: float = 5.0        # seconds between the server's heartbeats
    expert_heartbeat_timeout: float = 15.0  # seconds of silence before an expert is dropped
    history_sessions: int = 4096         # sessions whose recent decisions are kept for experts
    # LLM experts run by the server (lighthouse.experts.config): an experts file and/or
    # the one-expert shortcut (its key in LIGHTHOUSE_LLM_API_KEY).
    experts_file: str | None = None
    llm_api: str | None = None
    llm_url: str | None = None
    llm_model: str | None = None
    # The audit log (lighthouse.audit): an SQLite file recording every decision, or a
    # PostgreSQL database (audit_dsn, a postgresql:// URL); neither: off. `lighthouse
    # serve` gives the default path (lighthouse.audit.default_audit_path).
    audit_db: str | None = None
    audit_dsn: str | None = None
    audit_sync: bool = False             # answer a call only once its record is committed
    audit_queue: int = 65536             # records waiting for the writer; past it, RESOURCE_EXHAUSTED
    audit_commit_interval: float = 0.005  # seconds between commits in the default mode
    audit_max_input: int = 4096          # bytes of a tool input kept in a record (all of it is hashed)
    # Learned patterns (lighthouse.patterns): an SQLite file of expert answers generalised
    # by call shape, answering the calls that would go to experts; None: off.
    # `lighthouse serve` gives the default path (beside the audit log) unless --no-patterns.
    patterns_db: str | None = None
    patterns_threshold: int = 2          # agreeing expert answers that make a pattern active
    patterns_person_threshold: int = 1   # the same, for answers of a person (the console)
    patterns_max: int = 10000            # patterns the file holds (the oldest pending pruned past it)
    # Without a tokens file: whether an expert's ExpertHello.person is believed (with one,
    # the token's person role decides).
    trust_local_persons: bool = False
    # The hook's local spool the server ingests (lighthouse.audit.spool); None: its default path.
    audit_spool: str | None = None
    # Retention of the audit log (lighthouse.audit.rotate for SQLite, PostgresBackend.prune): None, none.
    audit_max_bytes: int | None = None
    audit_max_age: float | None = None   # seconds
    # Written once serving, removed at shutdown: the addresses bound, as JSON
    # (lighthouse.server.app.write_ready_file); for a caller that asked for port 0.
    ready_file: str | None = None

    def hub_enabled(self, tokens=None):
        """Whether ExpertHub is served: ``experts_hub``, or by default when the server has
        no tokens file or ``tokens`` (its TokenStore) holds a token with the expert role.
        Never with ``workers`` > 1: the kernel hands each connection to one worker, so an
        expert's stream would serve the calls of that worker only, and the other workers'
        escalations would pass the expert tier over (:func:`check_config` refuses an
        explicit ``experts_hub`` with workers)."""
        if self.workers > 1:
            return False
        if self.experts_hub is not None:
            return self.experts_hub
        if not self.tokens:
            return True
        return tokens is not None and any(ident.expert for _, ident in tokens.items())

    @property
    def metrics_bind_port(self):
        """The port the metrics endpoint binds (0: any free one)."""
        return 0 if self.metrics_port == ANY_PORT else self.metrics_port

    def address(self, port=None):
        host = self.host
        if ":" in host and not host.startswith("["):
            host = "[%s]" % host
        return "%s:%d" % (host, self.port if port is None else port)


def is_loopback(host):
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


FD_RESERVE = 256        # file descriptors kept out of the connection cap (see connection_cap)


def raise_fd_limit():
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (no privilege needed)
    and return the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(config, fd_limit):
    """The number of gRPC connections this process accepts at once: --max-connections,
    lowered so that FD_RESERVE descriptors stay free at the cap (for the listening
    sockets, gRPC's own pollers and pipes, the local socket's clients, the metrics
    endpoint, reloads reading rule files), or 1 when the limit leaves no room."""
    return max(1, min(config.max_connections, fd_limit - FD_RESERVE))


def check_config(config):
    """Refuse unsafe or inconsistent configurations with a ConfigError."""
    if type(config.port) is not int or not 0 <= config.port <= 65535:
        raise ConfigError("--port %r: a port is a number from 0 to 65535 (0: any free port)" % (config.port,))
    if type(config.metrics_port) is not int or not ANY_PORT <= config.metrics_port <= 65535:
        raise ConfigError("--metrics-port %r: a port is a number from 0 to 65535 (0: off), or any (any free port)"
                          % (config.metrics_port,))
    if not is_loopback(config.host) and not config.tokens:
        raise ConfigError("refusing to listen on %s without authentication: give --tokens FILE "
                          "(see `lighthouse tokens add`), or bind 127.0.0.1" % config.host)
    if config.tokens and not config.tls_cert and not is_loopback(config.host) and not config.insecure:
        raise ConfigError("refusing to listen on %s with bearer tokens but without TLS: the tokens would cross "
                          "the network in clear text; give --tls-cert and --tls-key, or --insecure if the "
                          "network is trusted" % config.host)
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    if config.tls_client_ca and not config.tls_cert:
        raise ConfigError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    if config.tokens and config.admin_token_file:
        raise ConfigError("--admin-token-file is for a server without --tokens (with tokens, Admin "
                          "needs an admin token from the tokens file)")
    if config.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if config.max_connections < 1:
        raise ConfigError("--max-connections must be at least 1")
    if config.max_pending_calls < 1:
        raise ConfigError("--max-pending-calls must be at least 1")
    try:
        parse_gc_thresholds(",".join(str(v) for v in config.gc_thresholds))
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None
    if not config.handshake_timeout > 0 or not config.idle_timeout > 0:
        raise ConfigError("--handshake-timeout and --idle-timeout must be positive")
    if config.workers > 1 and config.experts_hub:
        raise ConfigError("--experts-hub cannot be served with --workers %d: the workers share the port, so an "
                          "expert's stream would reach one worker and serve only the calls that worker receives; "
                          "run experts with one server process (--workers 1)" % config.workers)
    if config.workers > 1 and (config.experts_file or config.llm_api or config.llm_url or config.llm_model):
        raise ConfigError("LLM experts (--experts, --llm-*) cannot run with --workers %d: each worker would run "
                          "its own, and their limits (concurrent requests, requests per minute) would hold per "
                          "worker, %d times what the experts file allows; run experts with one server process "
                          "(--workers 1)" % (config.workers, config.workers))
    if config.expert_combine not in ("strict", "majority"):
        raise ConfigError("--expert-combine must be strict or majority")
    if not 0.0 <= config.expert_min_confidence <= 1.0:
        raise ConfigError("--expert-min-confidence must be from 0 to 1")
    if config.expert_max_pending < 1 or config.max_experts < 1 or config.history_sessions < 1:
        raise ConfigError("--expert-max-pending, --max-experts and --history-sessions must be at least 1")
    if not 0 < config.expert_heartbeat < config.expert_heartbeat_timeout:
        raise ConfigError("--expert-heartbeat must be positive and below --expert-heartbeat-timeout")
    if config.audit_queue < 1:
        raise ConfigError("--audit-queue must be at least 1")
    if not 0 < config.audit_commit_interval <= 1:
        raise ConfigError("--audit-commit-interval must be more than 0 and at most 1 second")
    if config.audit_max_input < 0:
        raise ConfigError("--audit-max-input must not be negative")
    if config.patterns_threshold < 1 or config.patterns_person_threshold < 1:
        raise ConfigError("--patterns-threshold and --patterns-person-threshold must be at least 1")
    if config.patterns_max < 1:
        raise ConfigError("--patterns-max must be at least 1")
    if (config.audit_max_bytes is not None or config.audit_max_age is not None) and not (config.audit_db or
                                                                                         config.audit_dsn):
        raise ConfigError("--audit-max-bytes and --audit-max-age are the audit log's retention: it is off "
                          "(--no-audit)")
    if config.audit_max_bytes is not None and config.audit_max_bytes < 8 * 4096:
        raise ConfigError("--audit-max-bytes must be at least 32768")
    if config.audit_max_age is not None and config.audit_max_age <= 0:
        raise ConfigError("--audit-max-age must be positive")
    if config.audit_db and config.audit_dsn:
        raise ConfigError("--audit-db and --audit-dsn name two audit logs: give one")
    if config.audit_dsn and not config.audit_dsn.startswith(("postgresql://", "postgres://")):
        raise ConfigError("--audit-dsn must be a postgresql:// URL (postgresql://USER@HOST:PORT/DBNAME)")
    if config.audit_sync and not (config.audit_db or config.audit_dsn):
        raise ConfigError("--audit-sync needs the audit log (it is off with --no-audit)")
    if config.fallback not in VERDICTS:
        raise ConfigError("fallback must be allow, ask or deny")
    if config.fallback == "allow":
        log.warning("fail-mode verdict is 'allow': calls no rule settles will run unattended")
    if config.metrics_port and not is_loopback(config.metrics_host):
        log.warning("/metrics on %s answers anyone who can reach it, without authentication: "
                    "bind it to 127.0.0.1 (--metrics-host) or restrict access in front", config.metrics_host)
    if config.tokens and not config.tls_cert and not is_loopback(config.host):
        log.warning("--insecure: bearer tokens will cross the network in clear text")
    for path in (config.tls_cert, config.tls_key, config.tls_client_ca, config.tokens):
        if path and not os.path.isfile(path):
            raise ConfigError("%s: no such file" % path)


def bind_error(host, port):
    """Why host:port cannot be bound, found by trying it with a plain socket (gRPC's own
    error does not say it in its exception); None when the probe binds."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        return "cannot resolve the host (%s)" % e.strerror
    for family, kind, proto, _, sockaddr in infos:
        try:
            with socket.socket(family, kind, proto) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(sockaddr)
        except OSError as e:
            return (e.strerror or str(e)).lower()
    return None
