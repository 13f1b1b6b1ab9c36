"""The Lighthouse server: gRPC (lighthouse.v1 Validator and Admin, health, reflection),
the local socket endpoint, metrics, reload and graceful shutdown.

    from lighthouse.server import ServerConfig, LighthouseServer, serve

Modules: ``app`` (wiring, config, serve), ``service`` (servicers), ``core`` (the decision
path shared by every front end), ``auth`` (tokens, rate limits), ``workers`` (N processes
on one port), ``local`` (the Unix socket JSON endpoint).

Names are imported lazily, so that ``lighthouse.server.local`` can start without grpc.
"""

__all__ = ["ServerConfig", "LighthouseServer", "ConfigError", "serve"]


def __getattr__(name):
    if name in __all__:
        from . import app
        return getattr(app, name)
    raise AttributeError(name)
