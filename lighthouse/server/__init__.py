"""The Lighthouse server: gRPC (lighthouse.v1 Validator and Admin, health, reflection),
the local socket endpoint, metrics, reload and graceful shutdown.

    from lighthouse.server import ServerConfig, LighthouseServer, serve

Modules, each importing only those after it: ``main`` (the entry point, ``serve``),
``workers`` (N processes on one port), ``app`` (wiring: one server process, reload,
shutdown), ``service`` (the gRPC servicers), ``core`` (the decision path shared by every
front end), ``decisionlog`` (``--decision-log``), ``wire`` (the answers' encoding),
``auth`` (tokens, rate limits, the admin secret), ``runtime`` (the garbage collector's
regime, its pauses and the event loop's lag), ``config`` (ServerConfig, Limits, the
checks), ``threads`` (helper thread priority); ``local`` (the Unix socket JSON endpoint)
stands apart.

Names are imported lazily, so that ``lighthouse.server.local`` can start without grpc.
"""

__all__ = ["ServerConfig", "LighthouseServer", "ConfigError", "serve"]

_HOMES = {"ServerConfig": "config", "ConfigError": "config", "LighthouseServer": "app", "serve": "main"}


def __getattr__(name):
    if name in _HOMES:
        from importlib import import_module
        return getattr(import_module("." + _HOMES[name], __name__), name)
    raise AttributeError(name)
