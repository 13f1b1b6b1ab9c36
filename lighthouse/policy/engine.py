"""The policy tier's Rego engine: the default policy and users' policies, compiled by regorus.

A :class:`Policy` holds one *generation* of policy sources (``.rego`` modules and
``data.json`` documents): the shipped default (this package's ``*.rego``), then each
``--policy`` directory. :meth:`Policy.evaluate` runs the entrypoint
(``data.lighthouse.decision``) on an input document (see :mod:`lighthouse.policy.input`)
and returns a validated :class:`PolicyResult`; anything else raises a
:class:`PolicyError`, which the caller turns into its fail mode, never into an allow.

Threads: a regorus engine may only be used by the thread that created it (its Python
object is *unsendable*; another thread using it panics). So each thread that evaluates
compiles its own engine from the current generation's sources, once per generation, and
keeps it in thread-local storage. :meth:`Policy.evaluate` may be called from any number
of threads at once. :meth:`Policy.reload` compiles the new sources on the calling thread
first (a module that does not parse, a data conflict, or an entrypoint that fails to
evaluate raises :class:`PolicyCompileError` naming file, line and reason, and the
running generation stays); only then does it swap the generation in, atomically: an
evaluation uses one generation from start to end.
"""

from __future__ import annotations

import json
import os
import re
import threading
import weakref
from dataclasses import dataclass, field

import regorus

from .input import input_json as _input_json

__all__ = ["Policy", "PolicyResult", "PolicyError", "PolicyCompileError", "PolicyEvalError",
           "PolicyResultError", "TestResult", "parse_result", "guard_result", "DEFAULT_ENTRYPOINT",
           "VERDICTS", "DEFAULT_DIR"]

DEFAULT_ENTRYPOINT = "data.lighthouse.decision"
DEFAULT_DIR = os.path.dirname(os.path.abspath(__file__))
VERDICTS = ("allow", "ask", "deny")
MAX_QUORUM = 64
MAX_REASON = 2048
MAX_CATEGORY = 128

_LOCATION = re.compile(r"-->\s*(.+?):(\d+):(\d+)")
_ERROR = re.compile(r"^error:\s*(.*)$", re.M)


class PolicyError(Exception):
    """Base class of the policy tier's errors. None of them is ever an allow."""


class PolicyCompileError(PolicyError):
    """A policy source was refused: ``file``, ``line`` (0 when unknown) and ``reason``."""

    def __init__(self, file, line, reason):
        self.file = file
        self.line = line
        self.reason = reason
        super().__init__("%s:%d: %s" % (file, line, reason) if line else "%s: %s" % (file, reason))


class PolicyEvalError(PolicyError):
    """An evaluation failed (a runtime error of the policy, an engine or transport
    failure, a timeout): the pipeline counts it for its circuit breaker and answers with
    its fail mode."""


class PolicyResultError(PolicyEvalError):
    """The policy answered something that is not a valid result: no decision, not an
    object, an unknown verdict, a bad field."""


@dataclass(frozen=True)
class PolicyResult:
    """A validated policy decision. ``escalate`` hands the call to experts with
    ``category`` and ``quorum`` (experts that must agree); ``verdict`` is then the
    answer that stands if no expert decides (never allow)."""

    verdict: str
    reason: str
    escalate: bool = False
    category: str = ""
    quorum: int = 1
    generation: int = 0
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def settled(self):
        """True when the policy itself decided (allow or deny, no experts)."""
        return not self.escalate and self.verdict in ("allow", "deny")

    def to_dict(self):
        return {"verdict": self.verdict, "reason": self.reason, "escalate": self.escalate,
                "category": self.category, "quorum": self.quorum}


def parse_result(value, generation=0):
    """Validate a policy's raw answer into a PolicyResult; PolicyResultError when it is
    not one. Unknown keys are ignored; a missing ``escalate`` is false, ``quorum`` 1."""
    if value is None:
        raise PolicyResultError("the policy gave no decision (its entrypoint is undefined)")
    if not isinstance(value, dict):
        raise PolicyResultError("the policy's decision is a %s, not an object" % type(value).__name__)
    verdict = value.get("verdict")
    if verdict not in VERDICTS:
        raise PolicyResultError("the policy's verdict %r is not one of allow, ask, deny" % (verdict,))
    reason = value.get("reason", "")
    if not isinstance(reason, str):
        raise PolicyResultError("the policy's reason is not a string")
    escalate = value.get("escalate", False)
    if not isinstance(escalate, bool):
        raise PolicyResultError("the policy's escalate is not a boolean")
    category = value.get("category", "")
    if not isinstance(category, str) or len(category) > MAX_CATEGORY:
        raise PolicyResultError("the policy's category is not a string of at most %d characters" % MAX_CATEGORY)
    quorum = value.get("quorum", 1)
    if isinstance(quorum, float) and quorum.is_integer():
        quorum = int(quorum)
    if isinstance(quorum, bool) or not isinstance(quorum, int) or not 1 <= quorum <= MAX_QUORUM:
        raise PolicyResultError("the policy's quorum is not a whole number from 1 to %d" % MAX_QUORUM)
    if escalate and verdict == "allow":
        raise PolicyResultError("the policy escalates with verdict allow: the verdict that stands "
                                "when no expert decides must be ask or deny")
    if escalate and not category:
        raise PolicyResultError("the policy escalates without a category")
    return PolicyResult(verdict, reason[:MAX_REASON], escalate, category, quorum, generation, value)


def guard_result(result, input_doc):
    """Never allow a call whose input document is incomplete (its analysis failed or hit
    a limit), whatever the policy answered: such an allow becomes an escalation."""
    analysis = input_doc.get("analysis") if isinstance(input_doc, dict) else None
    complete = isinstance(analysis, dict) and analysis.get("complete") is True
    if result.verdict != "allow" or complete:
        return result
    return PolicyResult("ask", "policy allowed a call whose analysis is incomplete (%s); experts decide"
                        % ((analysis or {}).get("error") or ", ".join((analysis or {}).get("limits") or ())
                           or "no analysis"),
                        True, "unanalysed", max(result.quorum, 1), result.generation, result.raw)


def _compile_error(path, exc):
    """A PolicyCompileError from a regorus error message (location, then `error: ...`)."""
    text = str(exc).split("\n\nStack backtrace:", 1)[0]
    m = _LOCATION.search(text)
    e = _ERROR.search(text)
    reason = e.group(1).strip() if e else (text.strip().splitlines() or ["unknown error"])[0]
    if m:
        return PolicyCompileError(m.group(1), int(m.group(2)), reason)
    return PolicyCompileError(path, 0, reason)


def engine_error_text(exc):
    """A regorus runtime error's message without the native stack backtrace."""
    text = str(exc).split("\n\nStack backtrace:", 1)[0].strip()
    m = _LOCATION.search(text)
    e = _ERROR.search(text)
    if m and e:
        return "%s:%s: %s" % (m.group(1), m.group(2), e.group(1).strip())
    return text


def _merge(into, value, path, file):
    for k, v in value.items():
        if k in into and isinstance(into[k], dict) and isinstance(v, dict):
            _merge(into[k], v, path + (k,), file)
        elif k in into:
            raise PolicyCompileError(file, 0, "data.%s is defined by another data file too"
                                     % ".".join(path + (k,)))
        else:
            into[k] = v


class _Sources:
    """One generation: the modules [(path, text)], the merged data document and the test
    rules [(package, rule name, path)]."""

    __slots__ = ("generation", "modules", "data", "files")

    def __init__(self, generation, modules, data, files):
        self.generation = generation
        self.modules = modules
        self.data = data
        self.files = files

    def build(self):
        engine = regorus.Engine()
        for path, text in self.modules:
            try:
                engine.add_policy(path, text)
            except RuntimeError as e:
                raise _compile_error(path, e) from None
        if self.data:
            engine.add_data(self.data)
        return engine


def _compiled(sources, check, modules):
    """(engine, None) for sources that compile and pass ``check``, else (None, the
    PolicyCompileError) with no traceback: the frames of one would hold the engine, and a
    regorus engine may only be dropped by the thread that made it, while a reload's error
    travels to another thread (the event loop's)."""
    try:
        engine = sources.build()
        check(engine, modules)
        return engine, None
    except PolicyCompileError as e:
        error = e
    engine = None
    error.__traceback__ = error.__context__ = error.__cause__ = None
    return None, error


_THREAD = threading.local()


def _kept_engines():
    """This thread's engines: {id(policy): (weak reference to the policy, generation,
    engine)}. A regorus engine may only be dropped by the thread that made it, so each is
    kept in a thread-local of this module's, which lives as long as the thread and is
    cleared by it as it ends; one kept in an attribute of the Policy (or a
    ``threading.local`` owned by it) would be dropped by whichever thread drops the last
    reference to the Policy, or collects the cycle holding it."""
    kept = getattr(_THREAD, "engines", None)
    if kept is None:
        kept = _THREAD.engines = {}
    return kept


def _kept(policy, generation):
    entry = _kept_engines().get(id(policy))
    if entry is not None and entry[0]() is policy and entry[1] == generation:
        return entry[2]
    return None


def _keep(policy, generation, engine):
    """Keep ``engine`` for this thread's evaluations of ``policy``'s ``generation``, and
    drop (here, on the thread that made them) the engines of policies that are gone."""
    kept = _kept_engines()
    for key in [k for k, (ref, _, _) in kept.items() if ref() is None]:
        del kept[key]
    kept[id(policy)] = (weakref.ref(policy), generation, engine)


def _read_sources(default, dirs):
    modules = []
    data = {}
    files = []

    def add_dir(root, mount_data):
        if os.path.isfile(root):
            add_file(root, os.path.dirname(root), mount_data)
            return
        if not os.path.isdir(root):
            raise PolicyCompileError(root, 0, "no such file or directory")
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
            for name in sorted(filenames):
                add_file(os.path.join(dirpath, name), root, mount_data)

    def add_file(path, root, mount_data):
        name = os.path.basename(path)
        if name.endswith(".rego"):
            try:
                with open(path, encoding="utf-8") as fh:
                    modules.append((path, fh.read()))
            except (OSError, UnicodeDecodeError) as e:
                raise PolicyCompileError(path, 0, "cannot read: %s" % e) from None
            files.append(path)
        elif name == "data.json" and mount_data:
            try:
                with open(path, encoding="utf-8") as fh:
                    value = json.load(fh)
            except json.JSONDecodeError as e:
                raise PolicyCompileError(path, e.lineno, "not valid JSON: %s" % e.msg) from None
            except (OSError, UnicodeDecodeError) as e:
                raise PolicyCompileError(path, 0, "cannot read: %s" % e) from None
            if not isinstance(value, dict):
                raise PolicyCompileError(path, 1, "a data.json must hold a JSON object")
            # As with OPA: a data.json in a/b/ of a policy directory is data.a.b.
            rel = os.path.relpath(os.path.dirname(path), root)
            prefix = () if rel == "." else tuple(rel.split(os.sep))
            for k in reversed(prefix):
                value = {k: value}
            _merge(data, value, (), path)
            files.append(path)

    if default:
        add_dir(DEFAULT_DIR, True)
    for d in dirs:
        add_dir(os.fspath(d), True)
    return modules, data, files


@dataclass(frozen=True)
class TestResult:
    """One ``test_`` rule's outcome: passed, or failed with an error message."""

    package: str
    name: str
    file: str
    passed: bool
    error: str = ""


class Policy:
    """The policy tier's Rego policy, evaluated in-process by regorus.

    ``default``: load the shipped default policy (``lighthouse/policy/*.rego``);
    ``dirs``: users' policy directories or files (``.rego`` modules, ``data.json``),
    loaded after it, recursively. ``entrypoint``: the rule whose value is the decision.
    Raises :class:`PolicyCompileError` when a source is refused.
    """

    def __init__(self, dirs=(), *, default=True, entrypoint=DEFAULT_ENTRYPOINT):
        if isinstance(dirs, (str, bytes)) or hasattr(dirs, "__fspath__"):
            dirs = [dirs]
        self._dirs = list(dirs)
        self._default = default
        self.entrypoint = entrypoint
        self._lock = threading.Lock()
        self._sources = None
        self.reload()

    @classmethod
    def load(cls, default=True, dirs=(), entrypoint=DEFAULT_ENTRYPOINT):
        """A Policy of the default policy (unless ``default=False``) and ``dirs``."""
        return cls(dirs, default=default, entrypoint=entrypoint)

    @property
    def generation(self):
        """The policy generation: 1 after loading, +1 for every successful reload."""
        return self._sources.generation

    @property
    def files(self):
        """The source files of the running generation, in load order."""
        return list(self._sources.files)

    def reload(self, dirs=None, default=None):
        """Read and compile the policy sources again (or new ones) and swap them in
        atomically; returns the new generation. A source that is refused raises
        PolicyCompileError and the running generation stays in force."""
        with self._lock:
            new_dirs = self._dirs if dirs is None else list(dirs)
            new_default = self._default if default is None else default
            modules, data, files = _read_sources(new_default, new_dirs)
            if not modules:
                raise PolicyCompileError(", ".join(map(str, new_dirs)) or "(no policy)", 0,
                                         "no .rego modules to load")
            generation = self._sources.generation + 1 if self._sources else 1
            sources = _Sources(generation, modules, data, files)
            engine, error = _compiled(sources, self._check, modules)
            if error is not None:
                raise error
            self._dirs, self._default = new_dirs, new_default
            self._sources = sources
            _keep(self, generation, engine)
            return generation

    def _check(self, engine, modules):
        """Evaluate the entrypoint once on a sample call, so that the errors regorus finds
        only when it evaluates (an unknown function, conflicting rule values) refuse the
        policy at load time instead of failing every call."""
        from .input import build_input
        sample = build_input("Bash", {"command": "ls"}, cwd="/home/dev/app", escalation="miss")
        try:
            engine.set_input(sample)
            engine.eval_rule(self.entrypoint)
        except RuntimeError as e:
            err = _compile_error(modules[-1][0], e)
            if err.line:
                raise err from None
            raise PolicyCompileError(self.entrypoint, 0, "the entrypoint fails to evaluate: %s"
                                     % engine_error_text(e)) from None

    def _engine(self):
        sources = self._sources
        engine = _kept(self, sources.generation)
        if engine is None:
            engine = sources.build()
            _keep(self, sources.generation, engine)
        return engine, sources.generation

    def evaluate_raw(self, input_doc, rule=None):
        """The entrypoint's (or ``rule``'s) value for ``input_doc``, unvalidated (None when
        undefined). Raises PolicyEvalError when the evaluation fails."""
        engine, _ = self._engine()
        try:
            engine.set_input_json(_input_json(input_doc))
            return engine.eval_rule(rule or self.entrypoint)
        except (RuntimeError, ValueError, TypeError, OverflowError) as e:
            raise PolicyEvalError("policy evaluation failed: %s" % engine_error_text(e)) from None

    def evaluate_raw_json(self, input_json_text):
        """:meth:`evaluate_raw` of an input document given as JSON text (what a policy
        worker process receives): regorus parses it, with no Python objects between."""
        engine, _ = self._engine()
        try:
            engine.set_input_json(input_json_text)
            return engine.eval_rule(self.entrypoint)
        except (RuntimeError, ValueError, TypeError, OverflowError) as e:
            raise PolicyEvalError("policy evaluation failed: %s" % engine_error_text(e)) from None

    def evaluate(self, input_doc):
        """Decide one escalated call from its input document: a validated PolicyResult.
        Raises PolicyEvalError (PolicyResultError for an invalid answer); an allow of a
        call whose document is incomplete becomes an escalation."""
        engine, generation = self._engine()
        try:
            engine.set_input_json(_input_json(input_doc))
            value = engine.eval_rule(self.entrypoint)
        except (RuntimeError, ValueError, TypeError, OverflowError) as e:
            raise PolicyEvalError("policy evaluation failed: %s" % engine_error_text(e)) from None
        return guard_result(parse_result(value, generation), input_doc)

    # ------------------------------------------------------------------ tests

    def tests(self):
        """The ``test_`` rules of the running generation: [(package, name, file)]."""
        engine, _ = self._engine()
        out = []
        for module in json.loads(engine.get_ast_as_json()):
            path = module.get("source", {}).get("file", "")
            ast = module.get("ast", {})
            package = _ref_text(ast.get("package", {}).get("refr"))
            seen = set()
            for rule in ast.get("rules", ()):
                name = _rule_name(rule)
                if name and name.startswith("test_") and name not in seen:
                    seen.add(name)
                    out.append(("data." + package, name, path))
        return out

    def run_tests(self, match=None):
        """Run every ``test_`` rule (optionally only those whose name contains
        ``match``), like ``opa test``: a test passes when its value is true."""
        engine, _ = self._engine()
        results = []
        for package, name, path in self.tests():
            if match and match not in name:
                continue
            try:
                engine.set_input({})
                value = engine.eval_rule("%s.%s" % (package, name))
            except RuntimeError as e:
                results.append(TestResult(package, name, path, False, engine_error_text(e)))
                continue
            if value is True:
                results.append(TestResult(package, name, path, True))
            else:
                results.append(TestResult(package, name, path, False,
                                          "undefined" if value is None else "value %r" % (value,)))
        return results


def _ref_text(ref):
    """The dotted text of a package reference in regorus' AST."""
    if not isinstance(ref, dict):
        return ""
    if "Var" in ref:
        return ref["Var"].get("value", "")
    if "RefDot" in ref:
        d = ref["RefDot"]
        fieldname = d.get("field")
        name = fieldname[1] if isinstance(fieldname, list) and len(fieldname) > 1 else ""
        return "%s.%s" % (_ref_text(d.get("refr")), name)
    if "RefBrack" in ref:
        d = ref["RefBrack"]
        idx = d.get("index", {})
        s = idx.get("String", {}).get("value") if isinstance(idx, dict) else None
        return "%s.%s" % (_ref_text(d.get("refr")), s or "")
    return ""


def _rule_name(rule):
    spec = rule.get("Spec") if isinstance(rule, dict) else None
    if not isinstance(spec, dict):
        return ""
    head = spec.get("head") or {}
    for kind in head.values():
        if isinstance(kind, dict):
            name = _ref_text(kind.get("refr"))
            if name:
                return name.split(".")[0]
        if isinstance(kind, list) and kind and isinstance(kind[0], dict):
            return _ref_text(kind[0])
    return ""
