"""A stand-in for an OPA server in the tests of the REST client.

No OPA binary can be installed here, so this is a local HTTP server (127.0.0.1, a free
port) that serves OPA's REST Data API contract, backed by regorus through
lighthouse.policy.Policy: ``POST /v1/data/<path>`` with ``{"input": ...}`` answers
``{"result": <value of data.<path>>}``, or ``{}`` when the rule is undefined; a body that
is not JSON gets 400 with OPA's error shape. ``delay`` and ``fail_status`` let tests
make it slow or failing.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _plain(value):
    """A regorus value as OPA serializes it: sets become (sorted) arrays."""
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=json.dumps)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256        # the default backlog of 5 resets concurrent connections

    def handle_error(self, request, client_address):
        pass                        # a client that gave up (a timeout test) is not an error here


class FakeOpa:
    def __init__(self, policy):
        self.policy = policy
        self.delay = 0.0
        self.fail_status = 0
        self.requests = 0
        self.connections = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"      # keep-alive, as OPA

            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                outer.requests += 1
                outer.connections.add(self.client_address)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.delay:
                    time.sleep(outer.delay)
                if outer.fail_status:
                    return self._send(outer.fail_status, {"code": "internal_error", "message": "injected failure"})
                if not self.path.startswith("/v1/data/"):
                    return self._send(404, {"code": "resource_not_found", "message": self.path})
                try:
                    doc = json.loads(body)
                except ValueError as e:
                    return self._send(400, {"code": "invalid_parameter", "message": "body: %s" % e})
                rule = "data." + self.path[len("/v1/data/"):].strip("/").replace("/", ".")
                try:
                    value = outer.policy.evaluate_raw(doc.get("input"), rule)
                except Exception as e:   # an evaluation error, as OPA reports it
                    return self._send(500, {"code": "internal_error", "message": str(e)})
                self._send(200, {} if value is None else {"result": _plain(value)})

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
