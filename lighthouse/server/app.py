"""Server wiring: one grpc.aio server on uvloop around one Validator.

:class:`LighthouseServer` owns the Validator, the Decider, the servicers (Validator,
Admin, grpc.health.v1, server reflection), the optional local socket endpoint and the
metrics endpoint, and implements reload and graceful shutdown. The configuration it is
built from is lighthouse.server.config; ``lighthouse serve`` runs it through
lighthouse.server.main, in one process or in each worker of lighthouse.server.workers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import signal
import socket
import stat
import sys

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .. import __version__, _fast
from ..audit.backend import AuditError
from ..audit.writer import AuditLog
from ..errors import ConfigError, ReloadError, ReloadThrottled, RuleError, TokenFileError
from ..policy.engine import PolicyError
from ..metrics import Stats, start_metrics_server
from ..v1 import admin_pb2, validation_pb2
from ..validator import Validator
from .auth import AdminSecret, RateLimiter, TokenStore
from .config import ServerConfig, bind_error, check_config, connection_cap, is_loopback
from .core import Decider
from .decisionlog import DecisionLog
from .service import AdminService, ValidatorService, admin_handler, validator_handler
from .runtime import RuntimeWatch, apply_gc_policy
from .threads import keep_helper_threads_lowered

# ServerConfig, ConfigError, check_config and is_loopback are lighthouse.server.config's,
# importable from here as before.
__all__ = ["LighthouseServer", "ServerConfig", "ConfigError", "is_loopback", "check_config", "setup_logging",
           "run_loop", "start_metrics", "admin_token_file", "write_admin_secret", "write_ready_file",
           "remove_ready_file", "SERVICE_NAMES"]

log = logging.getLogger("lighthouse.server")

SERVICE_NAMES = (
    validation_pb2.DESCRIPTOR.services_by_name["Validator"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name,
    health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
    reflection.SERVICE_NAME,
)


def admin_token_file(config):
    """Where a server without tokens writes its admin secret: ``--admin-token-file``, else
    beside its local socket path (lighthouse.localsock.admin_token_path), served or not."""
    from ..localsock import admin_token_path, resolve_socket_path
    if config.admin_token_file:
        return os.path.abspath(config.admin_token_file)
    return admin_token_path(os.path.abspath(resolve_socket_path(config.socket)))


def _socket_answers(path):
    """Whether a server answers on the Unix socket at ``path``."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return False
    except OSError:
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def write_admin_secret(config, secret):
    """Write the admin secret where its clients look for it (:func:`admin_token_file`)
    and return the path. A file beside a socket that another server answers on is that
    server's, and is left alone. An explicit ``--admin-token-file`` that cannot be
    written raises OSError; otherwise the server runs with a secret nobody holds (Admin
    refuses everyone; SIGHUP still reloads), and a warning says so."""
    path = admin_token_file(config)
    if not config.admin_token_file:
        from ..localsock import resolve_socket_path
        sock = os.path.abspath(resolve_socket_path(config.socket))
        if _socket_answers(sock):
            log.warning("another server answers on %s: its admin secret %s is left alone, and Admin on this "
                        "server refuses every call (give --socket or --admin-token-file; SIGHUP reloads)",
                        sock, path)
            return None
    try:
        return secret.write(path)
    except OSError as e:
        if config.admin_token_file:
            raise OSError(e.errno, "--admin-token-file %s: %s" % (path, e.strerror or e)) from None
        log.warning("admin secret not written to %s (%s): Admin refuses every call (give "
                    "--admin-token-file; SIGHUP reloads)", path, e.strerror or e)
        return None


def write_ready_file(path, *, address, port, metrics_port, socket_path, admin_secret_path, workers):
    """Write ``--ready-file``: a JSON object of what the server serves, once it serves it.
    ``address`` is the gRPC address (``host:port``), ``port`` and ``metrics_port`` the
    ports bound (the ones asked for, or the ones the kernel chose for 0 and ``any``;
    ``metrics_port`` 0 without the endpoint), ``socket`` the local socket's path (None
    without it), ``admin_token_file`` where the admin secret is (None with tokens),
    ``pid`` the process to signal. Written to a temporary name and renamed, so a reader
    that finds the file reads all of it."""
    info = {"address": address, "port": port, "metrics_port": metrics_port or 0, "socket": socket_path,
            "admin_token_file": admin_secret_path, "pid": os.getpid(), "workers": workers}
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(info, fh)
        fh.write("\n")
    os.replace(tmp, path)


def remove_ready_file(path):
    """Remove ``--ready-file`` (at start, so a stale one is not read as this server's; at shutdown)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def _reload_done(task):
    """A signalled reload's end: a refusal is logged by the reload itself."""
    if not task.cancelled():
        e = task.exception()
        if e is not None and not isinstance(e, ReloadError):
            log.error("reload (SIGHUP) failed: %s: %s", type(e).__name__, e)


class LighthouseServer:
    """One server process. ``await start()``, then ``await stop()``; or ``await run()``,
    which also handles SIGTERM/SIGINT (graceful shutdown) and SIGHUP (reload).

    ``validator``: a Validator to use instead of building one from the config (it should
    be ``raw=True``). ``escalator``: the slower tier for calls the fast path does not
    settle (see :class:`~lighthouse.server.core.Decider`). ``on_reload``: called after a
    successful reload asked through Admin (the worker supervisor uses it to reload the
    other workers). ``metrics``: serve /metrics from this process (a worker leaves that to
    its supervisor). ``admin_secret``: without tokens, the :class:`AdminSecret` Admin
    calls must carry, made and written by the worker supervisor; None: the server makes
    one, writes it at start (:func:`write_admin_secret`) and removes it at stop.
    ``experts``: in-process experts (lighthouse.experts.Expert objects, e.g. the LLM
    experts) registered beside the agents that connect to ExpertHub; giving any turns
    the expert tier on even without the hub.
    """

    def __init__(self, config, *, validator=None, escalator=None, worker=0, workers=1,
                 on_reload=None, metrics=True, local_socket=None, admin_secret=None, experts=()):
        self.config = config
        self.worker = worker
        self.workers = workers
        self.on_reload = on_reload
        self.stats = Stats(worker, workers)
        self.tokens = TokenStore(config.tokens) if config.tokens else None
        self.admin_secret = None if self.tokens is not None else admin_secret or AdminSecret()
        self._write_admin_secret = self.tokens is None and admin_secret is None
        self.validator = validator or Validator(list(config.rules), packs=config.packs,
                                                cache_size=config.cache_size, cache_ttl=config.cache_ttl,
                                                raw=True, window=config.limits.input_window,
                                                max_input=config.limits.max_input_json)
        limiter = RateLimiter(config.rate_limit, config.rate_burst) if config.rate_limit > 0 else None
        self.decision_log = DecisionLog(config.decision_log) if config.decision_log else None
        self.audit = None
        if config.audit_db or config.audit_dsn:
            self.audit = AuditLog(config.audit_dsn or config.audit_db, sync=config.audit_sync,
                                  max_queue=config.audit_queue, commit_interval=config.audit_commit_interval,
                                  worker=worker, max_input=config.audit_max_input,
                                  max_bytes=config.audit_max_bytes,
                                  max_age_ns=int(config.audit_max_age * 1e9) if config.audit_max_age else None)
            self.stats.audit = self.audit
        self.decider = Decider(self.validator, self.stats, fallback=config.fallback, limits=config.limits,
                               rate_limiter=limiter, escalator=escalator, cache_ttl=config.cache_ttl,
                               decision_log=self.decision_log, audit=self.audit)
        self.stats.policy_info = self._policy_info
        self.validator_service = ValidatorService(self.decider, self.tokens)
        self.health = health.aio.HealthServicer()
        self._serve_metrics = metrics
        self._serve_local = config.local_socket if local_socket is None else local_socket
        self._reload_queued = None            # the reload new requests join (not started yet)
        self._reload_running = None
        self._last_admin_reload = None
        self._last_signal_reload = None       # loop time a reload asked by SIGHUP last started
        self._signal_reload_due = None        # the TimerHandle of a SIGHUP reload put off
        self._tls_pending = None
        self._tls_files = None               # (key, cert, client CA) bytes last read
        self._server = None
        self._local = None
        self._metrics = None
        self._stopping = None
        self.port = None
        self.metrics_port = None
        self.socket_path = None
        self.max_connections = None
        self.pipeline = None                  # the escalation pipeline (policy and/or experts)
        self._policy_runner = None
        self._opa = None
        self.in_process_experts = tuple(experts)
        self._llm_experts = ()
        if config.experts_file or config.llm_api or config.llm_url or config.llm_model:
            from ..experts.config import load_experts   # ConfigError names what is wrong
            self._llm_experts = tuple(load_experts(config.experts_file, config.llm_api, config.llm_url,
                                                   config.llm_model))
            self.in_process_experts += self._llm_experts
        self.serve_hub = config.hub_enabled(self.tokens)
        self.experts = None                   # the ExpertRegistry, with an expert tier
        self.patterns = None                  # the PatternBook (lighthouse.patterns), with an expert tier
        self._pattern_tier = None
        self._pattern_watch = None            # the task checking the patterns file for other processes' changes
        self._expert_tier = None
        self.rule_facts = None          # RuleFactsSource of the slow tiers, with a pipeline
        self.hub = None                       # the ExpertHubService, when served
        self.history = None                   # sessions' recent decisions, for experts

    def _policy_info(self):
        v = self.validator
        cache = v.cache_stats()
        # Tier 0's two levels count as one cache: a call the raw-request front answers is
        # a hit and never reaches the Validator's cache; a miss is a miss of both.
        return {"generation": v.generation, "rules": v.rule_count, "implementation": _fast.IMPLEMENTATION,
                "cache_hits": cache.get("hits", 0) + self.decider.front_hits, "cache_misses": cache.get("misses", 0),
                "cache_entries": cache.get("size", 0)}

    def _grpc_options(self):
        config = self.config
        lim = config.limits
        self.max_connections = connection_cap(config, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        return [
            # Twice the limit: the servicer refuses (and counts) messages past the limit
            # itself (lighthouse.server.service.validator_handler); gRPC refuses larger
            # ones before any of this process's code sees them.
            ("grpc.max_receive_message_length", 2 * lim.max_message_bytes),
            ("grpc.max_send_message_length", 4 * lim.max_message_bytes),
            # gRPC sets SO_REUSEPORT by default, which would let a second server bind the
            # same port silently; only workers of one supervisor may share it.
            ("grpc.so_reuseport", 1 if self.workers > 1 else 0),
            # Connections that hold a descriptor without making calls: past the cap gRPC
            # closes a new connection as soon as it accepts it, so the process never runs
            # out of descriptors (it would stop accepting anyone, and fail its own files);
            # one that does not finish its handshake in time, or makes no call for the
            # idle timeout, is closed (gRPC's defaults: 120 s and never).
            ("grpc.max_allowed_incoming_connections", self.max_connections),
            ("grpc.server_handshake_timeout_ms", int(config.handshake_timeout * 1000)),
            ("grpc.max_connection_idle_ms", int(config.idle_timeout * 1000)),
            # Calls gRPC has accepted that the event loop has not taken up yet (asyncio's
            # server takes them one per turn of the loop): past gRPC's default backlog,
            # 1,000 and then at random up to 3,000, it refuses each new one with CANCELLED
            # (a stream's first call lost, nothing logged), which a burst of stream
            # openings reaches while escalations keep the loop busy. One fixed bound
            # instead (each still waits at most gRPC's 30 s).
            ("grpc.server.max_pending_requests", config.max_pending_calls),
            ("grpc.server.max_pending_requests_hard_limit", config.max_pending_calls),
        ]

    @property
    def expert_tier_enabled(self):
        """Whether calls can go to experts: ExpertHub is served or in-process experts were given."""
        return self.serve_hub or bool(self.in_process_experts)

    async def _start_policy(self):
        """The escalation pipeline: the policy tier (unless --no-policy: regorus in worker
        processes, or an OPA server), then the expert tier (when ExpertHub is served or
        in-process experts were given), then the fail mode; calls no rule settles go to it
        off the hot path, and nothing is answered allow because something failed."""
        from ..policy.input import RuleFactsSource
        config = self.config
        rules = lambda: self.validator.policy    # noqa: E731 (the rules in force, after reloads too)
        # What the rules know about each program, for the tiers' documents: one set of
        # facts shared by the tiers, built now on a thread while the policy workers start
        # (before any call, and before run()'s gc.freeze) and by each reload on its
        # thread, so that no call waits for it.
        self.rule_facts = facts = RuleFactsSource(rules)
        preparing = asyncio.get_running_loop().run_in_executor(None, facts.prepare)
        try:
            stages = await self._stages(config, facts)
        finally:
            await preparing
        self._pipeline(config, stages)

    async def _stages(self, config, facts):
        """The pipeline's stages: policy, patterns, experts, as configured."""
        from ..escalation import Stage
        stages = []
        if config.policy:
            stages.append(await self._policy_stage(facts))
        experts = self.expert_tier_enabled
        if experts:
            from ..experts.history import SessionHistory
            from ..experts.hub import ExpertHubService, ExpertRegistry
            from ..experts.stats import ExpertStats
            from ..experts.tier import ExpertTier
            self.experts = ExpertRegistry(config.max_experts, ExpertStats())
            for e in self.in_process_experts:
                try:
                    self.experts.add(e)
                except ValueError as err:
                    raise ConfigError("expert %r: %s" % (getattr(e, "name", e), err)) from None
            for e in self._llm_experts:
                e.on_release = self.experts.notify      # a freed slot wakes calls waiting for one
            self.history = SessionHistory(config.history_sessions)
            if self.serve_hub:
                self.hub = ExpertHubService(self.experts, self.tokens, max_pending=config.expert_max_pending,
                                            heartbeat_interval=config.expert_heartbeat,
                                            heartbeat_timeout=config.expert_heartbeat_timeout,
                                            trust_local_persons=config.trust_local_persons)
            patterns = self._pattern_stage(facts)
            if patterns is not None:
                stages.append(patterns)
            tier = ExpertTier(self.experts, facts=facts, history=self.history, combine=config.expert_combine,
                              min_confidence=config.expert_min_confidence,
                              breaker=lambda name: self.pipeline.breaker("expert:" + name),
                              learner=patterns.tier.learner if patterns is not None else None)
            self._expert_tier = tier
            # With no expert registered the stage is passed over: the policy's answer is
            # final, as without an expert tier; the first expert to register clears the
            # slow-tier cache, so that calls decided without experts are asked again.
            registry = self.experts
            stages.append(Stage(tier, kind="expert", backend="experts", active=lambda: len(registry) > 0))
            registry.on_available = self._experts_available
        return stages

    def _pipeline(self, config, stages):
        """The escalation pipeline over ``stages``, wired into the Decider."""
        from ..escalation import EscalationPipeline
        experts = self.expert_tier_enabled
        validator = self.validator
        self.pipeline = EscalationPipeline(
            stages,
            fail_mode="deny" if config.fallback == "deny" else "ask",
            escalation_deadline=config.escalation_deadline, policy_deadline=config.policy_deadline,
            max_queue=config.escalation_queue, cache_ttl=config.escalation_cache_ttl,
            # A rule's ask is escalated only to experts (DESIGN.md), and only while one is
            # registered: without one it stays an ask for a person; misses go to the policy.
            escalate_ask=(lambda rule_id, generation: len(self.experts) > 0 and validator.escalates(rule_id))
            if experts else (lambda rule_id, generation: False))
        self.pipeline.stats.patterns = self.patterns
        if self._pattern_tier is not None:
            # Pattern answers are cached like the other tiers': a retired pattern clears
            # the cache, and the file is watched for other processes' retirements.
            self._pattern_tier.attach(self.pipeline.cache.forget, asyncio.get_running_loop())
            self._pattern_watch = asyncio.get_running_loop().create_task(self._pattern_tier.keep_fresh())
        if self.experts is not None:
            self.pipeline.stats.experts = self.experts.stats
            self.pipeline.stats.llm = self._llm_experts
            if len(self.experts):
                self.decider.history = self.history
        # A repeated escalated call is answered inline from the slow tiers' cache (tier
        # CACHE); the pipeline does not look it up a second time.
        self.decider.slow_cache = self.pipeline.lookup
        self.decider.escalate_ask = self.pipeline.escalates_ask
        self.decider.escalator = self.pipeline.escalator(use_cache=False)
        self.stats.escalation = self.pipeline.stats
        self.stats.decision_time.update(self.pipeline.stats.decision_time)
        self.decider.escalation_timeout = config.escalation_deadline + 1.0

    def _experts_available(self):
        """The first expert registered: calls decided without experts are asked again
        (the slow-tier cache is cleared), and the Decider starts recording the sessions'
        decisions for the experts (it records nothing while no expert ever was)."""
        self.pipeline.invalidate()
        self.decider.history = self.history

    def _pattern_stage(self, facts):
        """The pattern tier (lighthouse.patterns) between the policy and the experts, with
        the book it learns into; None with --no-patterns. It only exists beside an
        expert tier: patterns answer calls that would otherwise go to experts."""
        config = self.config
        if not config.patterns_db:
            return None
        from ..escalation import Stage
        from ..patterns import PatternBook, PatternTier
        try:
            self.patterns = PatternBook(config.patterns_db, threshold=config.patterns_threshold,
                                        person_threshold=config.patterns_person_threshold,
                                        max_patterns=config.patterns_max)
        except Exception as e:
            raise ConfigError("--patterns-db %s: %s" % (config.patterns_db, e)) from None
        # What the shapes know of the programs of the rules in force: part of the facts
        # the other tiers share (built once per policy, off the calls' path).
        self._pattern_tier = PatternTier(self.patterns, programs=facts.programs)
        return Stage(self._pattern_tier, kind="pattern", backend="patterns")

    async def _policy_stage(self, facts):
        from ..escalation import Stage
        from ..policy import OpaClient, Policy, PolicyError, PolicyRunner
        from ..policy.tier import PolicyTier
        config = self.config
        if config.opa_url:
            self._opa = OpaClient(config.opa_url, timeout=config.policy_deadline)
            tier = PolicyTier(opa=self._opa, facts=facts)
        else:
            try:
                policy = Policy(list(config.policy_dirs))
            except PolicyError as e:
                raise ConfigError("policy refused: %s" % e) from None
            self._policy_runner = PolicyRunner(policy, processes=config.policy_processes,
                                               max_pending=config.escalation_queue, nice=config.policy_nice)
            await self._policy_runner.start()
            tier = PolicyTier(runner=self._policy_runner, facts=facts)
        return Stage(tier, kind="policy", backend=config.opa_url or "regorus")

    async def _stop_policy(self):
        if self.hub is not None:
            self.hub.close()
        if self.pipeline is not None:
            await self.pipeline.aclose()
            self.decider.escalator = self.decider.slow_cache = self.decider.escalate_ask = None
            self.decider.history = None
        if self._opa is not None:
            await self._opa.aclose()
        if self._policy_runner is not None:
            await self._policy_runner.aclose()
        for e in self._llm_experts:
            await e.aclose()
        if self._pattern_watch is not None:
            self._pattern_watch.cancel()
            self._pattern_watch = None
        if self.patterns is not None:
            self._pattern_tier.close()
            self.patterns.close()
            self.patterns = None

    async def start(self):
        """Bind, start serving and mark the services SERVING; returns the bound port."""
        config = self.config
        if self._stopping is None:
            self._stopping = asyncio.Event()
        started_audit = self.audit is not None and not self.audit.started
        if started_audit:
            try:
                self.audit.start()
            except AuditError as e:
                raise OSError("--audit-%s: %s" % ("dsn" if config.audit_dsn else "db", e)) from None
            self.audit.watch_spool(config.audit_spool)
        started_policy = (config.policy or self.expert_tier_enabled) and self.decider.escalator is None
        try:
            if started_policy:
                await self._start_policy()
            return await self._start_serving()
        except BaseException:
            if started_policy:      # no policy worker outlives a server that did not start
                await self._stop_policy()
            if started_audit:
                await self.audit.close(summary=False)
            raise

    async def _start_serving(self):
        config = self.config
        server = grpc.aio.server(options=self._grpc_options())
        server.add_generic_rpc_handlers((validator_handler(self.validator_service),
                                         admin_handler(AdminService(self))))
        services = SERVICE_NAMES
        if self.hub is not None:
            from ..experts.hub import SERVICE_NAME as HUB, expert_hub_handler
            server.add_generic_rpc_handlers((expert_hub_handler(self.hub),))
            services = SERVICE_NAMES + (HUB,)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        # Reflection describes every service to anyone: with tokens it is off unless asked
        # for. Health stays open for probes.
        if config.reflection if config.reflection is not None else not config.tokens:
            reflection.enable_server_reflection(services, server)
        address = config.address()
        # A busy port is found before gRPC tries it (gRPC would log its own multi-line
        # error); workers share their port, so only a lone server can probe it.
        reason = bind_error(config.host, config.port) if self.workers == 1 and config.port else None
        if reason:
            raise OSError("cannot listen on %s: %s" % (address, reason))
        try:
            if config.tls_cert:
                # Dynamic credentials: gRPC asks _fetch_tls for a newer certificate at each
                # handshake, so a reload gives new connections the files' current certificate.
                creds = grpc.dynamic_ssl_server_credentials(
                    self._tls_configuration(), self._fetch_tls,
                    require_client_authentication=bool(config.tls_client_ca))
                port = server.add_secure_port(address, creds)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError:        # gRPC's "Failed to bind", without the reason: found below
            port = 0
        if not port:
            raise OSError("cannot listen on %s: %s" % (address, bind_error(config.host, config.port)
                                                         or "gRPC could not bind it"))
        await server.start()
        try:
            if self._write_admin_secret:
                # Before the local socket: a server answering on it already owns the file beside it.
                write_admin_secret(config, self.admin_secret)
            if self._serve_local:
                await self._start_local()
            if self._serve_metrics and config.metrics_port:
                self._metrics = start_metrics(config)(self.stats.snapshot)
                self.metrics_port = self._metrics.server_address[1]
        except BaseException:
            await server.stop(None)
            if self._local is not None:
                from . import local
                await local.stop_local_server(self._local)
            if self._write_admin_secret:
                self.admin_secret.remove()
            raise
        self._server = server
        self.port = port
        for name in ("",) + SERVICE_NAMES[:2] + services[len(SERVICE_NAMES):]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        secret_path = self.admin_secret.path if self.admin_secret is not None else None
        log.info("lighthouse %s (%s hot path, %d rules, worker %d/%d, pid %d) serving gRPC on %s%s%s%s%s%s",
                 __version__, _fast.IMPLEMENTATION, self.validator.rule_count, self.worker + 1,
                 self.workers, os.getpid(), config.address(port), " with TLS" if config.tls_cert else "",
                 " (ExpertHub for experts)" if self.hub is not None else "",
                 ", metrics on http://%s:%d/metrics" % (config.metrics_host, self.metrics_port)
                 if self.metrics_port else "",
                 ", local socket %s" % self.socket_path if self.socket_path else "",
                 ", admin secret in %s" % secret_path if secret_path else "")
        return port

    def _tls_configuration(self):
        """The certificate configuration in the TLS files now (OSError if unreadable)."""
        config = self.config
        key, cert = _read(config.tls_key), _read(config.tls_cert)
        ca = _read(config.tls_client_ca) if config.tls_client_ca else None
        self._tls_files = (key, cert, ca)
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def _fetch_tls(self):
        """Called by gRPC at each TLS handshake: the configuration a reload has read, once
        (None keeps the one in use)."""
        new, self._tls_pending = self._tls_pending, None
        return new

    async def _start_local(self):
        try:
            from . import local
        except ImportError as e:
            if self.config.socket:
                raise ConfigError("--socket: the local endpoint is not available (%s)" % e) from None
            return
        path = local.resolve_socket_path(self.config.socket)
        try:
            self._local = await local.start_local_server(path, self.decider.decide_local,
                                                         max_request=self.config.limits.max_local_request)
        except Exception as e:
            if self.config.socket:
                raise
            # The default path is a convenience (another server may hold it already):
            # without it the hook falls back to its own local decision, never to allow.
            log.warning("local socket endpoint not started on %s: %s: %s", path, type(e).__name__, e)
            return
        self.socket_path = path
        lim = self.config.limits
        try:
            local.publish_policy(path, self.config.rules, self.config.packs, lim.input_window, lim.max_input_json,
                                 self.config.escalation_deadline if self.decider.escalator is not None else None)
        except OSError as e:
            log.error("could not publish the policy beside %s (%s): the hook, deciding alone while this server "
                      "is down, would not apply its rule files", path, e)

    async def reload(self, source="signal"):
        """Reload rule files (and the tokens and TLS files) and swap them in atomically; calls keep
        being answered during the reload (the rules compile on a worker thread). Returns
        (generation, tokens_reloaded); raises ReloadError and keeps the running policy
        and tokens on error.

        A reload asked while one runs joins it (and gets its result). Reloads asked through
        Admin start at most once per ``reload_interval``: a reload costs CPU that every
        agent's calls wait for, so a client looping on it is refused with ReloadThrottled."""
        return await asyncio.shield(self._request_reload(source))

    def _request_reload(self, source):
        """The task of the reload a request joins: the one queued, else a new one queued
        (at once: nothing awaits here, so that a request right after this one joins it)."""
        queued = self._reload_queued
        if queued is not None:
            return queued
        loop = asyncio.get_running_loop()
        interval = self.config.reload_interval
        if source == "admin" and interval > 0:
            now = loop.time()
            last = self._last_admin_reload
            if last is not None and now - last < interval:
                raise ReloadThrottled(interval, last + interval - now)
            self._last_admin_reload = now
        running = self._reload_running
        task = self._reload_queued = loop.create_task(self._reload(source, running))
        return task

    async def _reload(self, source, previous):
        # Requests that come while this reload waits join it; once it reads the files,
        # the next request queues a reload of its own, which sees any change made since.
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        self._reload_queued = None
        self._reload_running = asyncio.current_task()
        loop = asyncio.get_running_loop()
        try:
            new_tokens = self.tokens.read() if self.tokens is not None else None
            if self._policy_runner is not None:
                await loop.run_in_executor(None, self._policy_runner.reload)
            generation = await loop.run_in_executor(None, self._reload_rules)
            if self.pipeline is not None:
                self.pipeline.invalidate()
        except (RuleError, TokenFileError, PolicyError) as e:
            self.stats.reloads["error"] += 1
            log.error("reload (%s) refused, the running policy stays in force: %s", source, e)
            raise ReloadError(str(e)) from None
        tls_changed = False
        if self.config.tls_cert:
            before = self._tls_files
            try:
                self._tls_pending = self._tls_configuration()
                tls_changed = self._tls_files != before
            except OSError as e:
                log.error("reload (%s): TLS files not reloaded, the certificate in use stays: %s", source, e)
        if new_tokens is not None:
            self.tokens.replace(new_tokens)
        # Open streams were admitted under the old tokens and certificates: no call
        # may be decided for them before they are checked again (nothing awaits
        # between the swap and this check).
        self.validator_service.recheck_streams(tls_changed)
        if self.hub is not None:
            self.hub.recheck(tls_changed)
        self.stats.reloads["ok"] += 1
        if self.decision_log is not None:
            try:
                self.decision_log.open()          # a rotated file is replaced by a new one
            except OSError as e:
                log.error("reload (%s): %s; decisions go on to the file open before", source, e)
        log.info("policy reloaded (%s): generation %d, %d rules%s", source, generation,
                 self.validator.rule_count, ", tokens file reloaded" if new_tokens is not None else "")
        if source == "admin" and self.on_reload is not None:
            self.on_reload()
        return generation, new_tokens is not None

    def _reload_rules(self):
        """A reload's work on its thread: the rules compiled and swapped in, then the slow
        tiers' facts about them built (RuleFactsSource.prepare), before a call needs them."""
        generation = self.validator.reload()
        if self.rule_facts is not None:
            self.rule_facts.prepare()
        return generation

    def on_sighup(self):
        """A SIGHUP: reload at once, unless a reload asked by SIGHUP started less than
        ``reload_interval`` ago; then one reload at the end of that interval, which every
        SIGHUP until then joins. A burst of signals (a script looping on ``kill -HUP``)
        thus costs at most one reload per interval, not one per signal, and the reload put
        off still reads every change made before its signal. A signal that comes while a
        reload waits to start joins it (:meth:`reload`)."""
        if self._signal_reload_due is not None or self._reload_queued is not None:
            return
        loop = asyncio.get_running_loop()
        interval = self.config.reload_interval
        now = loop.time()
        last = self._last_signal_reload
        if interval > 0 and last is not None and now - last < interval:
            self._signal_reload_due = loop.call_later(last + interval - now, self._signal_reload)
            return
        self._signal_reload()

    def _signal_reload(self):
        self._signal_reload_due = None
        self._last_signal_reload = asyncio.get_running_loop().time()
        self._request_reload("SIGHUP").add_done_callback(_reload_done)

    async def reload_quietly(self, source):
        """:meth:`reload`, a refusal only logged (for signals and the worker supervisor)."""
        try:
            await self.reload(source)
        except ReloadError:
            pass

    async def stop(self, grace=None):
        """Graceful shutdown: health NOT_SERVING, streams stop reading, no new calls
        accepted, in-flight calls drained for up to `grace` seconds, then the rest cancelled."""
        grace = self.config.grace if grace is None else grace
        if self._server is None:
            return
        server, self._server = self._server, None
        if self._signal_reload_due is not None:       # no reload put off runs while stopping
            self._signal_reload_due.cancel()
            self._signal_reload_due = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        await self.health.enter_graceful_shutdown()
        self.validator_service.close()
        if self._local is not None:
            from . import local
            await local.stop_local_server(self._local)
            self._local = None
        # Drain while still serving: calls that arrive now get a clean UNAVAILABLE from
        # the servicer. gRPC's own stop would cancel calls it has received but not yet
        # handed to a handler, which clients see as CANCELLED and do not retry.
        while self.validator_service.busy() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        # The experts stay connected while the calls drain (they may be deciding them),
        # then their streams end with UNAVAILABLE, so that they reconnect elsewhere and
        # gRPC's stop does not wait out the grace period for them.
        if self.hub is not None:
            self.hub.close()
        await server.stop(max(deadline - loop.time(), 0.1))
        await self._stop_policy()
        if self.audit is not None:
            # Every call is answered or cancelled now: commit every record queued.
            await self.audit.close()
        if self._write_admin_secret:
            self.admin_secret.remove()
        if self._metrics is not None:
            self._metrics.shutdown()
            self._metrics.server_close()
            self._metrics = None
        if self.decision_log is not None:
            self.decision_log.close()
        log.info("server stopped (worker %d/%d)", self.worker + 1, self.workers)

    def request_stop(self):
        """Ask :meth:`run` to shut down (what SIGTERM does)."""
        if self._stopping is not None:
            self._stopping.set()

    async def run(self, ready=None):
        """Start, serve until SIGTERM/SIGINT (or :meth:`request_stop`), then shut down
        gracefully. SIGHUP reloads. ``ready(port)`` is called once serving."""
        loop = asyncio.get_running_loop()
        # The handlers come first: a SIGTERM while starting (or the instant after the
        # "serving" line) stops the server gracefully instead of killing it, and with it
        # the policy tier's worker processes, half started.
        self._stopping = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.on_sighup)
        await self.start()
        # The policy, caches and modules loaded so far live as long as the process: moving
        # them out of the collector's generations keeps full collections (pauses on the
        # request path) short; the thresholds make those collections rare
        # (lighthouse.server.runtime: every gRPC call leaves a small reference cycle, and
        # 10,000 open streams are hundreds of thousands of objects a full collection walks).
        apply_gc_policy(self.config.gc_thresholds)
        watch = RuntimeWatch(self.stats, self.config.gc_follow_streams, self.config.gc_paced)
        watch.install()
        lag = loop.create_task(watch.run_lag())
        keeper = None
        if self.config.helper_nice > 0:
            keeper = loop.create_task(keep_helper_threads_lowered(self.config.helper_nice))
        if self.config.ready_file:
            write_ready_file(self.config.ready_file, address=self.config.address(self.port), port=self.port,
                             metrics_port=self.metrics_port, socket_path=self.socket_path,
                             admin_secret_path=self.admin_secret.path if self.admin_secret is not None else None,
                             workers=1)
        if ready is not None:
            ready(self.port)
        await self._stopping.wait()
        if keeper is not None:
            keeper.cancel()
        lag.cancel()
        watch.uninstall()
        if self.config.ready_file:
            remove_ready_file(self.config.ready_file)
        log.info("shutting down: draining in-flight calls (up to %gs)", self.config.grace)
        await self.stop()


def start_metrics(config):
    """A function starting the /metrics endpoint of `config` on a snapshot source; it
    raises OSError naming the metrics address when that cannot be bound."""
    def start(source):
        try:
            return start_metrics_server(config.metrics_host, config.metrics_bind_port, source, __version__)
        except OSError as e:
            raise OSError("metrics endpoint: cannot listen on %s:%d: %s"
                          % (config.metrics_host, config.metrics_bind_port, (e.strerror or str(e)).lower())) from None
    return start


def setup_logging(level=logging.INFO, who="lighthouse"):
    """Log lines on stderr, tagged with the process role (supervisor or worker N)."""
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%%(asctime)s %s[%%(process)d] %%(levelname)s %%(message)s" % who)

def run_loop(coro):
    """Run a coroutine on uvloop when it is installed (it is a dependency), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
