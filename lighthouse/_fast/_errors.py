"""Exceptions shared by the compiled and pure implementations."""


class ShellError(ValueError):
    """The command line cannot be analysed (unbalanced quotes, too deep, too long)."""
