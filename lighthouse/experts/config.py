"""The LLM experts' configuration: an experts file (``--experts experts.toml``) and the
one-expert shortcut (``--llm-api``, ``--llm-url``, ``--llm-model``).

An experts file holds one table per expert, ``[expert.NAME]``::

    [expert.claude]
    api = "anthropic"                       # or "openai" (any OpenAI-compatible server)
    base_url = "https://api.anthropic.com"  # the endpoint is {base_url}/v1/messages
    model = "claude-sonnet-4-5"
    api_key_env = "ANTHROPIC_API_KEY"       # the variable holding the key, never the key
    categories = ["*"]                      # globs of the categories it serves ("" = none)
    tools = ["Bash", "mcp__*"]              # globs of the tools it serves
    timeout = 20                            # seconds per request (and never past the deadline)
    max_concurrent = 4
    requests_per_minute = 50

Optional keys: ``temperature`` (0 to 2), ``max_tokens`` (512), ``json_mode`` (openai
only: ask for a JSON object, default true), ``token_limit_field`` (openai only: the body
field that carries max_tokens, ``"max_tokens"`` or ``"max_completion_tokens"``, which
OpenAI's reasoning models require), ``reusable`` (whether its answers may be
cached for the same call, default true), ``breaker_failures`` (5) and ``breaker_reset``
(30 s), ``max_prompt_chars`` (32000). :data:`KEYS` lists them with their checks.

Everything is checked before the server starts: an unknown key or a bad value is a
:class:`~lighthouse.errors.ConfigError` naming the file, the expert and the key; so is an
API key variable that is unset or empty. A key is sent in clear over ``http://`` only to
a loopback host, and only a loopback ``openai`` server (a local model) may go without a
key.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
import urllib.parse

from ..errors import ConfigError
from ..localsock import loopback_target
from .llm import APIS, LLMConfig, LLMExpert

__all__ = ["add_arguments", "load_experts", "read_experts_file", "KEYS", "SHORTCUT_KEY_ENV", "SHORTCUT_NAME"]

SHORTCUT_KEY_ENV = "LIGHTHOUSE_LLM_API_KEY"
SHORTCUT_NAME = "llm"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")


def _number(lo, hi, integer=False):
    def check(v):
        if type(v) is bool or type(v) not in ((int,) if integer else (int, float)):
            return "must be %s" % ("a whole number" if integer else "a number")
        if not math.isfinite(v) or not lo <= v <= hi:
            return "must be from %s to %s, not %r" % (lo, hi, v)
        return None
    return check


def _positive(hi):
    def check(v):
        if type(v) is bool or type(v) not in (int, float):
            return "must be a number"
        if not math.isfinite(v) or not 0 < v <= hi:
            return "must be more than 0 and at most %s, not %r" % (hi, v)
        return None
    return check


def _text(limit, pattern=None, what="text"):
    def check(v):
        if type(v) is not str or not v:
            return "must be a non-empty string"
        if len(v) > limit:
            return "must be at most %d characters" % limit
        if _CONTROL.search(v):
            return "must not hold spaces or control characters"
        if pattern is not None and not pattern.match(v):
            return "must be %s, not %r" % (what, v)
        return None
    return check


def _globs(limit):
    def check(v):
        if type(v) is not list or not v:
            return "must be a non-empty list of glob strings"
        if len(v) > 256:
            return "must hold at most 256 globs"
        for g in v:
            if type(g) is not str or len(g) > limit or _CONTROL.search(g):
                return "must hold strings of at most %d characters without spaces or control characters, " \
                       "not %.60r" % (limit, g)
        return None
    return check


def _bool(v):
    return None if type(v) is bool else "must be true or false"


def _api(v):
    return None if v in APIS else "must be one of %s, not %.60r" % (", ".join(APIS), v)


def _url(v):
    if type(v) is not str or not v:
        return "must be a non-empty string"
    if len(v) > 2048 or _CONTROL.search(v):
        return "must be a URL without spaces or control characters, of at most 2048 characters"
    try:
        u = urllib.parse.urlsplit(v)
        u.port
    except ValueError as e:
        return "is not a valid URL (%s)" % e
    if u.scheme not in ("http", "https") or not u.hostname:
        return "must be an http:// or https:// URL with a host, not %.100r" % v
    if u.username is not None or u.password is not None:
        return "must not hold credentials (put the key in the variable named by api_key_env)"
    if u.query or u.fragment:
        return "must not have a query or a fragment"
    return None


# key -> (check returning a problem or None, required)
KEYS = {
    "api": (_api, True),
    "base_url": (_url, True),
    "model": (_text(256), True),
    "api_key_env": (_text(128, _ENV_NAME, "an environment variable name"), False),
    "categories": (_globs(64), False),
    "tools": (_globs(256), False),
    "timeout": (_positive(600), False),
    "max_concurrent": (_number(1, 256, True), False),
    "requests_per_minute": (_number(1, 1_000_000, True), False),
    "temperature": (_number(0, 2), False),
    "max_tokens": (_number(32, 32768, True), False),
    "token_limit_field": (lambda v: None if v in ("max_tokens", "max_completion_tokens") else
                          "must be \"max_tokens\" or \"max_completion_tokens\", not %.60r" % (v,), False),
    "json_mode": (_bool, False),
    "reusable": (_bool, False),
    "breaker_failures": (_number(1, 1000, True), False),
    "breaker_reset": (_positive(3600), False),
    "max_prompt_chars": (_number(2000, 1_000_000, True), False),
}


def _loopback_url(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    return loopback_target("[%s]" % host if ":" in host else host)


def _config(where, name, table, environ):
    """(LLMConfig, API key or None) of one expert's table; ConfigError naming ``where``."""
    def fail(key, problem):
        return ConfigError("%s: expert %r: key %r %s" % (where, name, key, problem))

    if not _NAME.match(name):
        raise ConfigError("%s: expert %.80r: the name must be 1 to 64 letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit" % (where, name))
    if type(table) is not dict:
        raise ConfigError("%s: expert %r must be a table ([expert.%s])" % (where, name, name))
    for key in table:
        if key in ("api_key", "key", "token"):
            raise fail(key, "is refused: a key never goes in the file; put it in an environment variable and "
                            "name that variable with api_key_env")
        if key not in KEYS:
            raise fail(key, "is not a known key (known: %s)" % ", ".join(KEYS))
    for key, (check, required) in KEYS.items():
        if key not in table:
            if required:
                raise fail(key, "is missing")
            continue
        problem = check(table[key])
        if problem:
            raise fail(key, problem)
    values = dict(table)
    for key in ("categories", "tools"):
        if key in values:
            values[key] = tuple(values[key])
    for key in ("timeout", "breaker_reset", "temperature"):
        if key in values:
            values[key] = float(values[key])
    for key in ("json_mode", "token_limit_field"):
        if key in table and values["api"] != "openai":
            raise fail(key, "applies to api = \"openai\" only")
    env = values.get("api_key_env", "")
    loopback = _loopback_url(values["base_url"])
    key = None
    if env:
        key = environ.get(env)
        if not key:
            raise fail("api_key_env", "names %s, which is not set or empty in the environment" % env)
        if _CONTROL.search(key) or len(key) > 4096:
            raise fail("api_key_env", "names %s, whose value holds spaces or control characters or is "
                                      "longer than 4096 characters" % env)
        if values["base_url"].startswith("http://") and not loopback:
            raise fail("base_url", "is plain http:// to a host that is not this machine: the API key would "
                                   "travel in clear; use https://")
    elif values["api"] == "anthropic" or not loopback:
        raise fail("api_key_env", "is missing: only an openai-compatible server on this machine may go "
                                  "without an API key")
    try:
        return LLMConfig(name=name, **values), key
    except ValueError as e:
        raise ConfigError("%s: expert %r: %s" % (where, name, e)) from None


def read_experts_file(path, environ=None):
    """[(LLMConfig, API key or None)] of an experts file; ConfigError naming the file,
    the expert and the key for anything wrong."""
    environ = os.environ if environ is None else environ
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError("%s: cannot read the experts file: %s" % (path, e.strerror or e)) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("%s: not valid TOML: %s" % (path, e)) from None
    for key in data:
        if key != "expert":
            raise ConfigError("%s: %r is not a known table or key (experts are [expert.NAME] tables)" % (path, key))
    experts = data.get("expert")
    if type(experts) is list:
        raise ConfigError("%s: experts are [expert.NAME] tables, not [[expert]] entries" % (path,))
    if type(experts) is not dict or not experts:
        raise ConfigError("%s: no expert: add an [expert.NAME] table" % (path,))
    return [_config(str(path), name, table, environ) for name, table in experts.items()]


def add_arguments(group):
    """Add the LLM experts' flags to an argparse group (``lighthouse serve``'s)."""
    group.add_argument("--experts", metavar="FILE", default=None,
                       help="experts file (TOML): one [expert.NAME] table per LLM expert with api "
                            "(openai|anthropic), base_url, model, api_key_env (the environment variable "
                            "holding its key), categories, tools, timeout, max_concurrent, "
                            "requests_per_minute; see the README's \"LLM experts\"")
    group.add_argument("--llm-api", choices=APIS, default=None,
                       help="one LLM expert without a file: its API (with --llm-url and --llm-model; the "
                            "key is read from %s)" % SHORTCUT_KEY_ENV)
    group.add_argument("--llm-url", metavar="URL", default=None,
                       help="the LLM expert's base URL, e.g. https://api.openai.com or "
                            "https://api.anthropic.com (without /v1)")
    group.add_argument("--llm-model", metavar="NAME", default=None, help="the LLM expert's model name")
    return group


def load_experts(experts_file=None, llm_api=None, llm_url=None, llm_model=None, environ=None, *,
                 transport=None):
    """The LLM experts configured by an experts file and/or the ``--llm-*`` shortcut
    (an expert named "llm", key from LIGHTHOUSE_LLM_API_KEY, the other settings at their
    defaults); [] when neither is given. ConfigError for anything wrong, before any
    expert is made. ``transport`` is passed to every expert (tests). Close them with
    ``await expert.aclose()``."""
    environ = os.environ if environ is None else environ
    configs = []
    if experts_file is not None:
        configs.extend(read_experts_file(experts_file, environ))
    shortcut = {"--llm-api": llm_api, "--llm-url": llm_url, "--llm-model": llm_model}
    given = [flag for flag, value in shortcut.items() if value]
    if given:
        missing = [flag for flag in shortcut if flag not in given]
        if missing:
            raise ConfigError("%s need%s %s: the three go together"
                              % (", ".join(given), "s" if len(given) == 1 else "", " and ".join(missing)))
        table = {"api": llm_api, "base_url": llm_url, "model": llm_model}
        keyless = llm_api == "openai" and _url(llm_url) is None and _loopback_url(llm_url)
        if not environ.get(SHORTCUT_KEY_ENV) and not keyless:
            raise ConfigError("--llm-api %s --llm-url %s: the API key must be in %s, which is not set or empty "
                              "(only an openai-compatible server on this machine may go without a key)"
                              % (llm_api, llm_url[:200], SHORTCUT_KEY_ENV))
        if environ.get(SHORTCUT_KEY_ENV):
            table["api_key_env"] = SHORTCUT_KEY_ENV
        configs.append(_config("--llm-api/--llm-url/--llm-model", SHORTCUT_NAME, table, environ))
    names = [c.name for c, _ in configs]
    for n in names:
        if names.count(n) > 1:
            raise ConfigError("the expert name %r is used twice (the --llm-* shortcut is named %r)"
                              % (n, SHORTCUT_NAME))
    return [LLMExpert(c, key, transport=transport) for c, key in configs]
