"""A client of a real OPA server's REST Data API, for ``--opa-url``.

``POST {url}/v1/data/{path}`` with ``{"input": <input document>}``; OPA answers
``{"result": <value>}`` (no ``result`` key when the rule is undefined). The value is
validated like the embedded engine's (:func:`lighthouse.policy.parse_result`). One
httpx client per :class:`OpaClient` keeps connections alive between calls.

Every failure raises :class:`OpaError` (a :class:`~lighthouse.policy.PolicyEvalError`):
connection refused or reset, a timeout (:class:`OpaTimeout`), an HTTP status other than
200, a body that is not JSON, an undefined or invalid decision. Deadlines and the circuit
breaker belong to the escalation pipeline; this client only applies its ``timeout``.
"""

from __future__ import annotations

import httpx

from .engine import DEFAULT_ENTRYPOINT, PolicyEvalError, PolicyResultError, guard_result, parse_result
from .input import input_json

__all__ = ["OpaClient", "OpaError", "OpaTimeout", "data_path"]


class OpaError(PolicyEvalError):
    """The OPA server did not give a valid decision (``status`` is the HTTP status, 0
    when there was no response)."""

    def __init__(self, message, status=0):
        super().__init__(message)
        self.status = status


class OpaTimeout(OpaError):
    """The OPA server did not answer within the timeout."""


def data_path(entrypoint):
    """The Data API path of a rule: ``data.lighthouse.decision`` -> ``lighthouse/decision``."""
    ref = entrypoint[5:] if entrypoint.startswith("data.") else entrypoint
    return ref.replace(".", "/")


class OpaClient:
    """Evaluate the policy entrypoint on an OPA server at ``url`` (``http://host:8181``).
    ``timeout`` (seconds) bounds each request; ``headers`` are sent with every request
    (for example ``Authorization: Bearer ...`` when OPA runs with token authentication).
    Sync and async use (``evaluate``/``aevaluate``) each keep their own connection pool;
    ``close``/``aclose`` release them."""

    def __init__(self, url, *, entrypoint=DEFAULT_ENTRYPOINT, timeout=2.0, headers=None, max_connections=32):
        self.url = url.rstrip("/")
        self.entrypoint = entrypoint
        self.timeout = timeout
        self.endpoint = "%s/v1/data/%s" % (self.url, data_path(entrypoint))
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = None
        self._aclient = None

    def _body(self, input_doc):
        return ('{"input":%s}' % input_json(input_doc)).encode("utf-8")

    def _result(self, response, input_doc):
        if response.status_code != 200:
            raise OpaError("OPA answered HTTP %d: %s" % (response.status_code, response.text[:200]),
                           response.status_code)
        try:
            body = response.json()
        except ValueError:
            raise OpaError("OPA's answer is not JSON", response.status_code) from None
        if not isinstance(body, dict):
            raise OpaError("OPA's answer is not a JSON object", response.status_code)
        try:
            return guard_result(parse_result(body.get("result")), input_doc)
        except PolicyResultError as e:
            raise OpaError("OPA: %s" % e, response.status_code) from None

    def evaluate(self, input_doc, timeout=None):
        """The validated PolicyResult for ``input_doc`` (blocking)."""
        if self._client is None:
            self._client = httpx.Client(limits=self._limits, headers=self._headers)
        try:
            r = self._client.post(self.endpoint, content=self._body(input_doc),
                                  timeout=self.timeout if timeout is None else timeout)
        except httpx.TimeoutException as e:
            raise OpaTimeout("OPA did not answer in time: %s" % (type(e).__name__,)) from None
        except httpx.HTTPError as e:
            raise OpaError("OPA request failed: %s: %s" % (type(e).__name__, e)) from None
        return self._result(r, input_doc)

    async def aevaluate(self, input_doc, timeout=None):
        """The validated PolicyResult for ``input_doc`` (asyncio)."""
        if self._aclient is None:
            self._aclient = httpx.AsyncClient(limits=self._limits, headers=self._headers)
        try:
            r = await self._aclient.post(self.endpoint, content=self._body(input_doc),
                                         timeout=self.timeout if timeout is None else timeout)
        except httpx.TimeoutException as e:
            raise OpaTimeout("OPA did not answer in time: %s" % (type(e).__name__,)) from None
        except httpx.HTTPError as e:
            raise OpaError("OPA request failed: %s: %s" % (type(e).__name__, e)) from None
        return self._result(r, input_doc)

    def close(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self):
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None
