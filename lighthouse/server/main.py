"""The entry point of ``lighthouse serve``: :func:`serve` checks the configuration, raises
the file-descriptor limit, then runs one server process (lighthouse.server.app) or a
supervisor and its workers (lighthouse.server.workers).
"""

from __future__ import annotations

import dataclasses
import logging

from .app import LighthouseServer, remove_ready_file, run_loop
from .config import FD_RESERVE, bind_error, check_config, connection_cap, raise_fd_limit
from .workers import Supervisor

__all__ = ["serve"]

log = logging.getLogger("lighthouse.server")


def serve(config):
    """Run the server as ``lighthouse serve`` does; returns the process exit code."""
    check_config(config)
    fd_limit = raise_fd_limit()            # workers inherit it
    if connection_cap(config, fd_limit) < config.max_connections:
        log.warning("file descriptor limit %d: at most %d connections at once (--max-connections %d, "
                    "%d descriptors kept in reserve); raise `ulimit -n` for more", fd_limit,
                    connection_cap(config, fd_limit), config.max_connections, FD_RESERVE)
    if config.ready_file:
        remove_ready_file(config.ready_file)        # a stale one is not this server's
    if config.workers > 1:
        reason = bind_error(config.host, config.port)
        if reason:
            raise OSError("cannot listen on %s: %s" % (config.address(), reason))
        return Supervisor(config).run()
    server = LighthouseServer(dataclasses.replace(config))
    run_loop(server.run())
    return 0
