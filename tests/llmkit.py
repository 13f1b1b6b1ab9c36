"""A stand-in for LLM providers in the tests of the LLM experts.

No provider is reachable from here (no key, no internet), so this is a local HTTP/1.1
server (127.0.0.1, a free port, keep-alive) that speaks the two APIs the experts use:

- OpenAI's ``POST /v1/chat/completions``: ``Authorization: Bearer <key>`` checked (401
  ``invalid_api_key`` otherwise), ``model`` and ``messages`` required (400
  ``invalid_request_error``), the answer as ``choices[0].message.content`` with
  ``finish_reason`` and ``usage.prompt_tokens``/``completion_tokens``;
- Anthropic's ``POST /v1/messages``: ``x-api-key`` checked (401
  ``authentication_error``), ``anthropic-version`` required, ``model``, ``max_tokens``
  and ``messages`` required (400), the answer as ``content[{"type": "text"}]`` with
  ``stop_reason`` and ``usage.input_tokens``/``output_tokens``.

Each test scripts it: :class:`Reply` objects queued in ``replies`` are used in order,
then ``default``. A reply gives the model's text (wrapped in the envelope of the API
that was called) or a raw body, a status, headers, a delay before answering, or a body
dripped a byte at a time. Every request is recorded (path, headers, JSON body, the
client's port, arrival time), with the number in progress and its peak; ``gate`` holds
requests until it is set.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def answer(verdict="deny", reason="deletes files outside the workspace", confidence=0.9, **extra):
    """A model answer as JSON text."""
    return json.dumps(dict({"verdict": verdict, "reason": reason, "confidence": confidence}, **extra))


@dataclass
class Reply:
    text: str = ""                      # the model's answer, wrapped in the API's envelope
    status: int = 200
    body: object = None                 # a raw body (dict -> JSON, bytes as is) instead of an envelope
    headers: dict = field(default_factory=dict)
    delay: float = 0.0                  # seconds before answering
    drip: float = 0.0                   # seconds between bytes of the body
    finish: str = ""                    # finish_reason / stop_reason ("" = the normal one)
    usage: tuple = (120, 30)            # (input tokens, output tokens)


@dataclass
class Seen:
    path: str
    headers: dict
    body: object
    port: int
    at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        pass                            # a client that gave up (timeout tests) is not an error here


class FakeLLM:
    def __init__(self, key="sk-test"):
        self.key = key
        self.replies = collections.deque()
        self.default = Reply(answer())
        self.seen = []
        self.in_progress = 0
        self.peak = 0
        self.gate = threading.Event()
        self.gate.set()
        self.closing = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16          # headers and body in one write (flushed after each request)

            def log_message(self, *args):
                pass

            def _send(self, status, body, headers=(), drip=0.0):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in dict(headers).items():
                    self.send_header(k, v)
                self.end_headers()
                if drip:
                    for i in range(len(data)):
                        if outer.closing.wait(drip):
                            return
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                else:
                    self.wfile.write(data)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer.lock:
                    outer.seen.append(Seen(self.path, headers, body, self.client_address[1], time.monotonic()))
                    outer.in_progress += 1
                    outer.peak = max(outer.peak, outer.in_progress)
                try:
                    outer.gate.wait(60)
                    self._answer(headers, body)
                finally:
                    with outer.lock:
                        outer.in_progress -= 1

            def _answer(self, headers, body):
                if self.path == "/v1/chat/completions":
                    api = "openai"
                    if outer.key and headers.get("authorization") != "Bearer " + outer.key:
                        return self._send(401, {"error": {"message": "Incorrect API key provided",
                                                          "type": "invalid_request_error", "code": "invalid_api_key"}})
                    if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
                        return self._send(400, {"error": {"message": "model and messages are required",
                                                          "type": "invalid_request_error"}})
                elif self.path == "/v1/messages":
                    api = "anthropic"
                    if outer.key and headers.get("x-api-key") != outer.key:
                        return self._send(401, {"type": "error", "error": {"type": "authentication_error",
                                                                           "message": "invalid x-api-key"}})
                    if not headers.get("anthropic-version"):
                        return self._send(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                                           "message": "anthropic-version: header is required"}})
                    if not isinstance(body, dict) or not body.get("model") or type(body.get("max_tokens")) is not int \
                            or not isinstance(body.get("messages"), list):
                        return self._send(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                                           "message": "model, max_tokens, messages required"}})
                else:
                    return self._send(404, {"error": {"message": "unknown path %s" % self.path}})
                with outer.lock:
                    reply = outer.replies.popleft() if outer.replies else outer.default
                if reply.delay and outer.closing.wait(reply.delay):
                    return
                if reply.body is not None:
                    return self._send(reply.status, reply.body, reply.headers, reply.drip)
                if reply.status != 200:
                    kind = "rate_limit_error" if reply.status == 429 else "api_error"
                    err = ({"error": {"message": "injected", "type": kind}} if api == "openai" else
                           {"type": "error", "error": {"type": kind, "message": "injected"}})
                    return self._send(reply.status, err, reply.headers, reply.drip)
                model = body.get("model")
                if api == "openai":
                    env = {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": model,
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text, "refusal": None},
                                        "finish_reason": reply.finish or "stop"}],
                           "usage": {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1],
                                     "total_tokens": sum(reply.usage)}}
                else:
                    env = {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                           "content": [{"type": "text", "text": reply.text}],
                           "stop_reason": reply.finish or "end_turn", "stop_sequence": None,
                           "usage": {"input_tokens": reply.usage[0], "output_tokens": reply.usage[1]}}
                self._send(200, env, reply.headers, reply.drip)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def queue(self, *replies):
        with self.lock:
            self.replies.extend(replies)

    def user_message(self, k=-1):
        """The user message of the k-th request, whichever API it used."""
        return self.seen[k].body["messages"][-1]["content"]

    def system_prompt(self, k=-1):
        body = self.seen[k].body
        return body["system"] if "system" in body else body["messages"][0]["content"]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.closing.set()
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
