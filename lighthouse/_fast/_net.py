"""Where a URL or a host points: the host read as the programs that connect read it, and
its kind. The `arg_hosts` matcher key of shell rules and `url_hosts` of tool rules (see
_rulespec.COMMAND_TESTS and INPUT_TESTS), written once for both engines.

An address has many spellings that every resolver accepts: `169.254.169.254` is also
`2852039166`, `0xa9fea9fe`, `0251.0376.0251.0376`, `169.254.43518`, `0xa9.0xfe.43518`,
`[::ffff:169.254.169.254]`, `[::ffff:a9fe:a9fe]` and `%31%36%39.254.169.254` (WHATWG URL
parsers decode a host's percent escapes). A glob or a regex over the text names some of
them; this module reads the host as inet_aton and the URL standard do (one to four parts,
each decimal, octal with a leading 0 or hexadecimal with 0x, the last filling the bytes
left; IPv6 with an embedded IPv4 address), so that every spelling gets the same kind:

- ``metadata``: a cloud instance metadata service (169.254.169.254, the ECS task
  endpoint 169.254.170.2, Alibaba's 100.100.100.200, fd00:ec2::254) or its names,
  including names that embed the address for a rebinding resolver (`169-254-169-254.nip.io`);
- ``loopback``: 127.0.0.0/8, ::1, `localhost` and names under it;
- ``private``: the private, shared and link-local ranges, the unspecified address, and
  names under internal suffixes (`.internal`, `.corp`, `.local`, `.lan`, `.home.arpa`);
- ``ip``: any other address written as numbers;
- ``name``: a host name;
- ``unknown``: a host that cannot be read: built from a variable or an expansion, or too
  long to be a host (a rule that must fail closed lists it);
- ``non_http`` (``url_hosts`` only): the URL's scheme is not http or https (gopher://,
  dict://, ftp://: other protocols spoken to a server), or it has none.

A host is read both as written and with its percent escapes decoded; a URL's kinds are
those of both readings. Text longer than MAX_TEXT is not read (the key raises LimitError:
the call is undecided).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from socket import inet_aton

from ._errors import LimitError
from ._prefilter import compile_search

__all__ = ["KINDS", "MAX_TEXT", "METADATA_ONLY", "NON_HTTP_ONLY", "METADATA_NAMES", "METADATA_INFIXES",
           "PRIVATE_SUFFIXES", "SECRET_HOSTS", "host_kind", "url_hosts", "url_field", "compile_host_kinds",
           "test_arg_hosts", "test_url_hosts", "compile_flag", "test_secret_elsewhere",
           "REGISTRY_HOSTS", "test_foreign_registry"]

KINDS = frozenset({"metadata", "loopback", "private", "ip", "name", "unknown", "non_http"})

# Text (an argument, a URL field) longer than this is not read for hosts: undecided.
MAX_TEXT = 1 << 20
# A host longer than this is no DNS name and no address.
_MAX_HOST = 255

_METADATA_V4 = frozenset({0xA9FEA9FE, 0xA9FEAA02, 0x646464C8})     # 169.254.169.254, 169.254.170.2, 100.100.100.200
_METADATA_V6 = frozenset({int(ipaddress.IPv6Address("fd00:ec2::254"))})
METADATA_NAMES = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "metadata.azure.com",
    "instance-data", "instance-data.ec2.internal", "metadata.tencentyun.com",
    "metadata.platformequinix.com", "metadata.packet.net"})
# Spellings of the metadata addresses that rebinding resolvers (nip.io, sslip.io, ...)
# answer with the address itself.
METADATA_INFIXES = ("169.254.169.254", "169-254-169-254", "a9fea9fe", "169.254.170.2", "169-254-170-2",
                     "100.100.100.200", "100-100-100-200")
PRIVATE_SUFFIXES = (".internal", ".corp", ".local", ".lan", ".intranet", ".home.arpa", ".localdomain")
# A URL: a scheme's last character, ":", slashes (the WHATWG parser treats \ as / and
# skips any number of them in http URLs) and the authority, up to the first character
# that ends one. Each authority holds at most one more start, at its end: linear.
_SCHEME_END = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_AUTHORITY = re.compile(r"[/\\]+([^/\\?#]*)")
_BARE_AUTHORITY = re.compile(r"[^/\\?#]*")
# A host known only when the command runs (an expansion), or a glob's brackets.
_UNREADABLE = frozenset("$`{}*?[]")
_UNREADABLE_NOW = frozenset("$`{}*?")
# Full stops IDNA maps to "." (a host is NFKC-normalised, as the URL standard's IDNA
# step does, so that fullwidth digits read as digits).
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def _ipv4_part(p):
    """The value of one part of an inet_aton address, or None."""
    if not p:
        return None
    if p[:2] in ("0x", "0X"):
        digits, base = p[2:], 16
        if not digits:
            return 0                    # inet_aton and WHATWG read "0x" as 0
    elif len(p) > 1 and p[0] == "0":
        digits, base = p[1:], 8
    else:
        digits, base = p, 10
    if len(digits) > 32:
        return None
    try:
        return int(digits, base) if digits.isascii() and digits.isalnum() else None
    except ValueError:
        return None


def _ipv4(host):
    """The 32-bit value of an IPv4 address in any inet_aton spelling, or None."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()                     # a trailing dot, as in a fully qualified name
    if not 1 <= len(parts) <= 4:
        return None
    values = [_ipv4_part(p) for p in parts]
    if None in values:
        return None
    for v in values[:-1]:
        if v > 255:
            return None
    if values[-1] >= 256 ** (5 - len(values)):
        return None
    out = 0
    for v in values[:-1]:
        out = out * 256 + v
    return out * 256 ** (5 - len(values)) + values[-1]


def _v4_kind(v):
    if v in _METADATA_V4:
        return "metadata"
    a, b = v >> 24, (v >> 16) & 255
    if a == 127:
        return "loopback"
    if (a in (0, 10) or a == 172 and 16 <= b <= 31 or a == 192 and b == 168
            or a == 169 and b == 254 or a == 100 and 64 <= b <= 127):
        return "private"
    return "ip"


def _v6_kind(text):
    if "%" in text:
        text = text[:text.index("%")]   # a zone id (`fe80::1%25eth0`)
    try:
        a = ipaddress.IPv6Address(text)
    except ValueError:
        return "unknown"
    n = int(a)
    if n in _METADATA_V6:
        return "metadata"
    embedded = a.ipv4_mapped
    if embedded is None and n >> 32 in (0, 0x64FF9B << 64) and n > 1:
        embedded = ipaddress.IPv4Address(n & 0xFFFFFFFF)   # IPv4-compatible or NAT64
    if embedded is not None:
        return _v4_kind(int(embedded))
    if a.is_loopback:
        return "loopback"
    if a.is_private or a.is_link_local or a.is_site_local or a.is_unspecified:
        return "private"
    return "ip"


def _name_kind(host):
    if host in METADATA_NAMES:
        return "metadata"
    for infix in METADATA_INFIXES:
        if infix in host:
            return "metadata"
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    if host.endswith(PRIVATE_SUFFIXES):
        return "private"
    return "name"


def _unquote(host):
    """The host with its percent escapes decoded (as the URL standard decodes a host),
    or None when it has none or they do not decode to text."""
    if "%" not in host:
        return None
    out = bytearray()
    i, n = 0, len(host)
    while i < n:
        c = host[i]
        if c == "%" and _hex2(host, i + 1):
            out.append(int(host[i + 1:i + 3], 16))
            i += 3
        else:
            out += c.encode("utf-8", "surrogatepass")
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _hex2(s, i):
    return i + 1 < len(s) and s[i] in "0123456789abcdefABCDEF" and s[i + 1] in "0123456789abcdefABCDEF"


def host_kind(host):
    """The kind of a host as written in a URL's authority (brackets around IPv6)."""
    if not host or len(host) > _MAX_HOST:
        return "unknown"
    if not _UNREADABLE.isdisjoint(host) and (
            not _UNREADABLE_NOW.isdisjoint(host) or "[" in host[1:] or "]" in host[:-1]):
        return "unknown"                # an expansion, or a glob's brackets
    if not host.isascii():
        host = unicodedata.normalize("NFKC", host.translate(_DOTS))
    host = host.lower()
    if host[0] == "[":
        return _v6_kind(host[1:-1]) if host[-1] == "]" else "unknown"
    stripped = host.rstrip(".")
    if not stripped:
        return "unknown"
    last = stripped[stripped.rfind(".") + 1:]
    if last.isdigit() or last[:2] == "0x":
        # a host ending in a number is an address (the URL standard's test), read as the
        # C library's inet_aton reads it, else as written here (`0x` alone is 0)
        try:
            v = int.from_bytes(inet_aton(stripped), "big")
        except (OSError, ValueError):   # not an address to it, or a NUL in the text
            v = _ipv4(host)
        if v is not None:
            return _v4_kind(v)
    if ":" in host:
        return _v6_kind(host)           # a bare IPv6 address (a tool given a host alone)
    return _name_kind(stripped)


def _authority_host(auth):
    """The host of a URL's authority (userinfo and port removed)."""
    at = auth.rfind("@")
    if at >= 0:
        auth = auth[at + 1:]
    if auth.startswith("["):
        close = auth.find("]")
        return auth if close < 0 else auth[:close + 1]
    colon = auth.find(":")
    return auth if colon < 0 else auth[:colon]


def _kinds_of(host, out):
    out.add(host_kind(host))
    if len(host) > 3 * _MAX_HOST:
        return                          # too long to decode to a host (escapes take 3)
    decoded = _unquote(host)
    if decoded is not None:
        out.add(host_kind(decoded))


def url_hosts(text, bare=False):
    """The kinds of the hosts of every URL in text (each `scheme://` or `scheme:\\`
    in it, any number of slashes, a URL inside another's authority included), and with
    ``bare`` of the text itself read as `host[:port][/path]` when it holds no URL (a URL
    given without its scheme, as curl and wget take one)."""
    if len(text) > MAX_TEXT:
        raise LimitError("a URL or argument of %d characters (limit %d)" % (len(text), MAX_TEXT))
    out: set = set()
    found = False
    n = len(text)
    i = text.find(":")
    while 0 < i < n - 1:
        if text[i + 1] in "/\\" and text[i - 1] in _SCHEME_END:
            found = True
            m = _AUTHORITY.match(text, i + 1)
            _kinds_of(_authority_host(m.group(1)), out)
            # the next start may stand inside this authority (it ends where one would)
            i = text.find(":", m.start(1))
        else:
            i = text.find(":", i + 1)
    if bare and not found and text and text[0] not in "-@/.~":
        _kinds_of(_authority_host(_BARE_AUTHORITY.match(text).group(0)), out)
    return out


def compile_host_kinds(value):
    if (not isinstance(value, list) or not value or not all(isinstance(k, str) for k in value)
            or not set(value) <= KINDS):
        raise ValueError("a host kind list must name some of: %s" % ", ".join(sorted(KINDS)))
    return frozenset(value)


# The programs that take a host, or a URL without its scheme (curl's and wget's
# `host/path`), as an argument.
_BARE_URL_PROGRAMS = frozenset({"curl", "wget", "http", "https", "xh", "xhs", "curlie", "aria2c", "lynx",
                                "links", "w3m", "httpie", "nc", "ncat", "netcat", "telnet", "openssl"})


# Options whose value is not a host (an output file named `metadata` is not the metadata
# service), by program, and the options whose value sends a name to an address.
_CURL_VALUES = frozenset({
    "-o", "--output", "-H", "--header", "-d", "--data", "--data-raw", "--data-binary",
    "--data-urlencode", "--data-ascii", "-u", "--user", "-A", "--user-agent", "-e", "--referer",
    "-b", "--cookie", "-c", "--cookie-jar", "-T", "--upload-file", "-F", "--form", "-w",
    "--write-out", "-K", "--config", "-E", "--cert", "--key", "--cacert", "-m", "--max-time",
    "--retry", "-C", "--continue-at", "-r", "--range", "-X", "--request", "--output-dir"})
_WGET_VALUES = frozenset({
    "-O", "--output-document", "-o", "--output-file", "-a", "--append-output", "-P",
    "--directory-prefix", "-i", "--input-file", "-U", "--user-agent", "--header", "--post-data",
    "--post-file", "--body-data", "--body-file", "-e", "--execute", "-t", "--tries", "-T",
    "--timeout", "-w", "--wait", "-Q", "--quota", "--user", "--password", "--method"})
_VALUE_OPTIONS = {"curl": _CURL_VALUES, "curlie": _CURL_VALUES, "wget": _WGET_VALUES}
_ADDRESS_OPTIONS = frozenset({"--resolve", "--connect-to"})
_ADDRESS_PART = re.compile(r"\[[^\]]*\]|[^:]+")


# What every spelling of a metadata address or name holds, whatever else the text is: a
# hexadecimal part (0x), an octal one (a leading 0), a number of four or more digits not
# after a colon (a short form: the last part fills two bytes or more; a port is no part
# of an address), the dotted or dashed start of the addresses themselves, an IPv6 form,
# a percent escape, a non-ASCII character (fullwidth digits), one of the names, or an
# option that maps a name to an address. A command whose arguments hold none of them
# names no metadata host, and arg_hosts looks no further (one search by RE2, linear).
METADATA_ONLY = frozenset({"metadata"})
_METADATA_GATE = compile_search(r"(?i)0x|(?:^|[^0-9])0[0-9]|(?:^|[^0-9:])[0-9]{4}|169[.-]254|100[.-]100|"
                                r"a9fe|fd00|::|\[|%|[^\x00-\x7f]|metadata|instance-data|--resolve|--connect-to")

def _socat_host(address):
    """The host of a socat address `TYPE:HOST:PORT[,option...]`."""
    rest = address.split(",", 1)[0]
    rest = rest[rest.index(":") + 1:]
    if rest.startswith("["):
        close = rest.find("]")
        return rest if close < 0 else rest[:close + 1]
    return rest.split(":", 1)[0]


def test_arg_hosts(kinds, sc):
    """A shell rule's `arg_hosts`: a URL among the command's args or inline code (or, for
    the programs that take one without a scheme, a bare argument) is of one of ``kinds``."""
    if kinds == METADATA_ONLY and _METADATA_GATE.search("\n".join(sc.args) + "\n" + (sc.code or "")) is None:
        return False
    bare = sc.program in _BARE_URL_PROGRAMS
    values = _VALUE_OPTIONS.get(sc.program, ())
    value_of = None
    for a in sc.args:
        if value_of in _ADDRESS_OPTIONS or a.startswith(("--resolve=", "--connect-to=")):
            # `--resolve name:443:ADDRESS`, `--connect-to name:443:ADDRESS:443`
            for part in _ADDRESS_PART.findall(a.partition("=")[2] if a[:2] == "--" else a)[1:]:
                if host_kind(part) in kinds:
                    return True
        if url_hosts(a, bare and value_of not in values) & kinds:
            return True
        value_of = a if a[:1] == "-" and "=" not in a else None
        if sc.program == "socat" and ":" in a:
            # an address `TCP:HOST:PORT,options` (TCP4, TCP-CONNECT, OPENSSL, ...)
            out = set()
            _kinds_of(_socat_host(a), out)
            if out & kinds:
                return True
    return bool(sc.code) and bool(url_hosts(sc.code) & kinds)


def test_url_hosts(kinds, tool_input):
    """A tool rule's `url_hosts`: the host of the input's url (or uri) field is of one of
    ``kinds``; a URL field that is not text matches no kind."""
    global _last_url
    value = url_field(tool_input)
    if value is None:
        return False
    if "non_http" in kinds and not value.lstrip()[:8].lower().startswith(("http://", "https://")):
        return True
    if kinds == NON_HTTP_ONLY:
        return False
    last = _last_url
    if last[0] is value:
        found = last[1]
    else:
        found = url_hosts(value, True)
        _last_url = (value, found)
    return bool(found & kinds)


def url_field(tool_input):
    """The text url_hosts reads of a tool's input: its url (or else uri) field when it
    is text, else None."""
    if not isinstance(tool_input, dict):
        return None
    for name in ("url", "uri"):
        value = tool_input.get(name)
        if isinstance(value, str):
            return value
    return None


NON_HTTP_ONLY = frozenset({"non_http"})
# The last URL read by test_url_hosts and its kinds: the rules of one call ask about the
# same string one after another (a tuple, replaced whole: safe across threads).
_last_url: tuple = (None, frozenset())


# Credentials that belong to one service, by the environment variable that conventionally
# holds them -> the host names (and their subdomains) of that service. Sent in a header,
# a login or a cookie to any other host that is not this machine or its network, the
# credential leaves (`curl -H "Authorization: Bearer $GITHUB_TOKEN" https://x.example`); to
# its own service it is how the service is called. A name with no hosts is never sent as
# it is (AWS signs requests with its secret key). Names not in the table are not judged
# here (`$TOKEN` to the project's own API).
_GITHUB = ("github.com", "githubusercontent.com", "ghcr.io")
_NPM = ("npmjs.org", "npmjs.com", "npm.pkg.github.com")
SECRET_HOSTS = {
    "GITHUB_TOKEN": _GITHUB, "GH_TOKEN": _GITHUB, "GITHUB_PAT": _GITHUB, "GH_PAT": _GITHUB,
    "GITHUB_PERSONAL_ACCESS_TOKEN": _GITHUB, "GH_ENTERPRISE_TOKEN": (),
    "GITLAB_TOKEN": ("gitlab.com",), "GITLAB_PRIVATE_TOKEN": ("gitlab.com",), "GL_TOKEN": ("gitlab.com",),
    "NPM_TOKEN": _NPM, "NODE_AUTH_TOKEN": _NPM,
    "OPENAI_API_KEY": ("openai.com",), "ANTHROPIC_API_KEY": ("anthropic.com",),
    "GEMINI_API_KEY": ("googleapis.com",), "GOOGLE_API_KEY": ("googleapis.com",),
    "MISTRAL_API_KEY": ("mistral.ai",), "GROQ_API_KEY": ("groq.com",), "OPENROUTER_API_KEY": ("openrouter.ai",),
    "HF_TOKEN": ("huggingface.co",), "HUGGING_FACE_HUB_TOKEN": ("huggingface.co",),
    "HUGGINGFACE_TOKEN": ("huggingface.co",),
    "SLACK_TOKEN": ("slack.com",), "SLACK_BOT_TOKEN": ("slack.com",), "SLACK_API_TOKEN": ("slack.com",),
    "CLOUDFLARE_API_TOKEN": ("cloudflare.com",), "CF_API_TOKEN": ("cloudflare.com",),
    "DIGITALOCEAN_TOKEN": ("digitalocean.com",), "DIGITALOCEAN_ACCESS_TOKEN": ("digitalocean.com",),
    "STRIPE_SECRET_KEY": ("stripe.com",), "STRIPE_API_KEY": ("stripe.com",),
    "SENTRY_AUTH_TOKEN": ("sentry.io",), "VERCEL_TOKEN": ("vercel.com",),
    "NETLIFY_AUTH_TOKEN": ("netlify.com",), "HEROKU_API_KEY": ("heroku.com",),
    "PYPI_TOKEN": ("pypi.org",), "PYPI_API_TOKEN": ("pypi.org",), "TWINE_PASSWORD": ("pypi.org",),
    "CODECOV_TOKEN": ("codecov.io",), "DOCKERHUB_TOKEN": ("docker.com", "docker.io"),
    "DOCKER_HUB_TOKEN": ("docker.com", "docker.io"), "CIRCLECI_TOKEN": ("circleci.com",),
    "CIRCLE_TOKEN": ("circleci.com",), "LINEAR_API_KEY": ("linear.app",),
    "DD_API_KEY": ("datadoghq.com", "datadoghq.eu"), "DATADOG_API_KEY": ("datadoghq.com", "datadoghq.eu"),
    "AWS_SECRET_ACCESS_KEY": (), "AWS_SESSION_TOKEN": (),
}
# how a secret-named variable stands in an argument after the analysis (`*$NAME`)
_SECRET_REF = re.compile(r"\*\$([A-Za-z_][A-Za-z0-9_]*)")
# the programs that send a request, and those of them that take the URL without a scheme
_SENDERS = frozenset({"curl", "curlie", "wget", "wget2", "http", "https", "xh", "xhs", "aria2c"})
_HTTPIE = frozenset({"http", "https", "xh", "xhs", "curlie"})
_NEAR = frozenset({"loopback", "private"})


def _request_hosts(sc):
    """The hosts (lowercased, as written) a request command sends to: every URL's host
    among its args, and its bare `host[/path]` arguments (curl's and wget's URLs without
    a scheme; httpie's URL after an optional METHOD, its items after it). Option values
    are not hosts. None when the command takes its destination from elsewhere (curl's
    config file) or maps a host to another address (--resolve, --connect-to)."""
    values = _VALUE_OPTIONS.get(sc.program, _CURL_VALUES)
    elsewhere = _ELSEWHERE.get(sc.program, _CURL_ELSEWHERE)
    httpie = sc.program in _HTTPIE
    hosts = []
    value_of = None
    url_seen = False
    for a in sc.args:
        if value_of is None and (a in elsewhere or a.startswith(_ELSEWHERE_EQ)):
            return None
        if "://" in a:
            if not (httpie and url_seen):
                i = a.find("://")
                m = _AUTHORITY.match(a, i + 1)
                hosts.append(_authority_host(m.group(1)).lower())
            url_seen = True
        elif value_of is None and a and a[0] not in "-@/.~":
            if not httpie:
                hosts.append(_authority_host(_BARE_AUTHORITY.match(a).group(0)).lower())
            elif not url_seen and not (a.isupper() and a.isalpha()):
                hosts.append("localhost" if a[0] == ":" else _authority_host(_BARE_AUTHORITY.match(a).group(0)).lower())
                url_seen = True
        value_of = a if _takes_next(a, values) else None
    return hosts


# options that send a request elsewhere than its URL says, or read its URLs or options
# from a file, by program (curl's, and wget's)
_CURL_ELSEWHERE = frozenset({"-K", "--config", "--resolve", "--connect-to"})
_WGET_ELSEWHERE = frozenset({"-i", "--input-file", "-e", "--execute"})
_ELSEWHERE = {"wget": _WGET_ELSEWHERE, "wget2": _WGET_ELSEWHERE}
_ELSEWHERE_EQ = ("--config=", "--resolve=", "--connect-to=", "--input-file=", "--execute=")


def _takes_next(a, values):
    """Whether option word a takes the next word as its value: a long option named in
    values without `=`, or a cluster of short ones (`-sH`) whose last letter is one."""
    if a[:2] == "--":
        return "=" not in a and a in values
    if a[:1] != "-":
        return False
    for j in range(1, len(a)):
        if "-" + a[j] in values:
            return j == len(a) - 1
    return False


def _owned_by(host, suffixes):
    for s in suffixes:
        if host == s or host.endswith("." + s):
            return True
    return False


def test_secret_elsewhere(flag, sc):
    """A shell rule's `secret_elsewhere = true`: a request (curl, wget, httpie and their
    kind) carries, anywhere in its args, a credential SECRET_HOSTS knows, and sends it
    to a host that is neither its service's nor this machine's or its network's, or to a
    host the call does not show (a variable): the credential leaves. Linear in the args."""
    if sc.program not in _SENDERS:
        return not flag
    names = []
    for a in sc.args:
        if "*$" in a:
            if len(a) > MAX_TEXT:
                raise LimitError("an argument of %d characters (limit %d)" % (len(a), MAX_TEXT))
            for name in _SECRET_REF.findall(a):
                if name in SECRET_HOSTS:
                    names.append(name)
    if not names:
        return not flag
    hosts = _request_hosts(sc)
    if not hosts:
        return flag                         # sent where the call does not show
    for host in hosts:
        kind = host_kind(host)
        if kind in _NEAR:
            continue
        if kind == "unknown":
            return flag
        for name in names:
            if not _owned_by(host.rstrip("."), SECRET_HOSTS[name]):
                return flag
    return not flag


def compile_flag(value):
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


# The public registries and indexes of the package ecosystems (and the hosts they serve
# files from): an index option or a registry setting that names one of them, this
# machine or its network (a local or company mirror) sends no install to a host an
# attacker may run.
REGISTRY_HOSTS = ("registry.npmjs.org", "registry.npmjs.com", "registry.yarnpkg.com", "npm.pkg.github.com",
                  "pypi.org", "pypi.python.org", "files.pythonhosted.org", "upload.pypi.org",
                  "download.pytorch.org", "crates.io", "index.crates.io", "static.crates.io",
                  "rubygems.org", "proxy.golang.org", "repo.maven.apache.org", "repo1.maven.org",
                  "plugins.gradle.org", "packagist.org", "repo.packagist.org", "conda.anaconda.org",
                  "repo.anaconda.com", "jsr.io", "registry.bun.sh")
_REGISTRY_NAMES = frozenset(REGISTRY_HOSTS)
_REGISTRY_SUFFIXES = tuple("." + h for h in REGISTRY_HOSTS)


def test_foreign_registry(flag, sc):
    """A shell rule's `foreign_registry = true`: the command's args hold a URL whose host
    is neither a public registry (REGISTRY_HOSTS) nor this machine or its network, or
    a value the call does not show (a variable): `pip install -i URL`, `npm config set
    registry URL`. Linear in the args."""
    for a in sc.args:
        if (a[:1] == "*" or "=*" in a) and "://" not in a:
            return flag                     # an unknown value: it may be the URL
        if "://" not in a:
            continue
        if len(a) > MAX_TEXT:
            raise LimitError("an argument of %d characters (limit %d)" % (len(a), MAX_TEXT))
        i = a.find("://")
        while i > 0:
            host = _authority_host(_AUTHORITY.match(a, i + 1).group(1))
            name = host.lower()
            if name in _REGISTRY_NAMES or name.endswith(_REGISTRY_SUFFIXES):
                i = a.find("://", i + 3)
                continue                    # (a public registry's name as written)
            kind = host_kind(host)
            if kind == "unknown":
                return flag
            if kind == "name":
                name = host.lower().rstrip(".")
                if name not in _REGISTRY_NAMES and not name.endswith(_REGISTRY_SUFFIXES):
                    return flag
            elif kind not in _NEAR:
                return flag
            i = a.find("://", i + 3)
    return not flag
