"""Lighthouse: a validation server for AI agents' tool calls.

``from lighthouse import Validator`` gives the in-process fast validator::

    v = Validator()
    d = v.check("Bash", {"command": "rm -rf ~"}, cwd="/home/dev/app")
    d.verdict, d.rule_id, d.reason   # 'deny', 'fs.rm-home', '...'

The public names are imported on first use, not with the package: the Claude Code hook
imports ``lighthouse.hooks.claude_code`` once per tool call, and must not pay for the rule
engine unless it decides locally.
"""

__version__ = "0.1.0"
__all__ = ["Validator", "Decision", "RuleError", "LighthouseError", "COMPILED", "IMPLEMENTATION", "__version__"]

TYPE_CHECKING = False    # importing typing costs the hook start-up; checkers know this idiom
if TYPE_CHECKING:
    from ._fast import COMPILED, IMPLEMENTATION
    from ._fast._engine_py import Decision
    from .errors import LighthouseError, RuleError
    from .validator import Validator


def __getattr__(name):
    if name == "Validator":
        from .validator import Validator as value
    elif name == "Decision":
        from ._fast import engine
        value = engine.Decision
    elif name in ("RuleError", "LighthouseError"):
        from . import errors
        value = getattr(errors, name)
    elif name in ("COMPILED", "IMPLEMENTATION"):
        from . import _fast
        value = getattr(_fast, name)
    else:
        raise AttributeError("module 'lighthouse' has no attribute %r" % name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
