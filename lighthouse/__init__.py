"""Lighthouse: a validation server for AI agents' tool calls.

``from lighthouse import Validator`` gives the in-process fast validator::

    v = Validator()
    d = v.check("Bash", {"command": "rm -rf ~"}, cwd="/home/dev/app")
    d.verdict, d.rule_id, d.reason   # 'deny', 'fs.rm-home', '...'
"""

from ._fast import COMPILED, IMPLEMENTATION
from ._fast import engine as _engine
from .rules.loader import RuleError
from .validator import Validator

Decision = _engine.Decision

__version__ = "0.1.0"
__all__ = ["Validator", "Decision", "RuleError", "COMPILED", "IMPLEMENTATION", "__version__"]
