"""Exceptions shared by the compiled and pure implementations (part of the project's
hierarchy, lighthouse.errors)."""

from ..errors import LighthouseError


class ShellError(LighthouseError, ValueError):
    """The command line cannot be analysed (unbalanced quotes, too deep, too long)."""


class LimitError(ShellError):
    """A limit of the analysis was reached (nesting, wrappers, words, arguments, work).

    What was seen up to the limit says nothing about the rest, so the whole call is
    undecided: a LimitError is never caught to judge a part. Syntax errors inside
    nested code (an ``ssh`` remote command, a ``python -c`` snippet) may be caught and
    their command marked dynamic; a LimitError always reaches the engine, which
    answers the call as unanalysed.
    """
