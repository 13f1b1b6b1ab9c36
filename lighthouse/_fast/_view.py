"""What a command's view reads with its program's spec, defined once: the short flags
of an old-style first argument (`tar cf FILE`), the positionals a write mode names, the
writes of a program's writes_if entries and the paths under a directory option (`git
-C DIR`). Both engines' views run them per command whose spec asks for them.

The pure engine imports this source (through _rulespec, which exports it with the
rest of a program's spec); the compiled one cimports the same source compiled by
Cython as _view_c (setup.py), typed by the augmenting _view_c.pxd, so each is a C call
there and one text here.
"""

from __future__ import annotations

from ._errors import LimitError

__all__ = ["positional_writes", "conditional_writes", "chdir_rebased", "unbundle", "MAX_CHDIR_WORK", "CHDIR_MSG"]


def positional_writes(mode, positionals, base, data):
    """The positionals a write mode names, counted from index base (the first word after
    the subcommand words); data is the program's data_positionals (mode all starts after
    them, and writes nothing when every positional is data)."""
    n = len(positionals) - base
    if mode == "first":
        return positionals[base:base + 1]
    if mode == "last":
        return positionals[-1:] if n >= 2 else []
    if mode == "all":
        return positionals[base + data:] if data >= 0 else []
    if mode == "after_first":
        return positionals[base + 1:]
    return []


def conditional_writes(writes_if, flags, options, positionals, base, data):
    """What a program's writes_if entries (writes_if_entry) write, given the flags,
    options ({name: [values]}, or None) and positionals its view read; `-` (stdin or
    stdout) and URLs are not files."""
    out = []
    for any_of, none_of, names, mode, default in writes_if:
        if any_of and any_of.isdisjoint(flags):
            continue
        if none_of and not none_of.isdisjoint(flags):
            continue
        n = len(out)
        if options:
            for name in names:
                out.extend(options.get(name, ()))
        if mode != "none":
            out.extend(positional_writes(mode, positionals, base, data))
        if default is not None and len(out) == n:
            out.append(default)
    return [w for w in out if w != "-" and "://" not in w]


# The characters chdir_rebased may build: a directory option's value is copied into
# every path under it, so a long one repeated over many paths is refused (LimitError:
# the call is undecided), never judged on part of its paths.
MAX_CHDIR_WORK = 1 << 20
CHDIR_MSG = "paths under a directory option come to more than %d characters" % MAX_CHDIR_WORK


def chdir_rebased(chdir_options, options, path_args, writes):
    """(path_args, writes) of a program that works in the directory its chdir_options
    name (program_fields): each relative path put under that directory, the directory
    options' own values (the first path_args equal to them: they come before the
    positionals) left as they are. Several values are taken in turn, each
    relative to the one before (`git -C a -C b` works in a/b); an empty one changes
    nothing. `-`, URLs, absolute and home paths are unchanged. A directory that holds an
    unknown value makes the paths under it hold one too. Raises LimitError when the
    paths it would build come to more than MAX_CHDIR_WORK characters: its time and
    memory are linear in its input."""
    dirs = []
    for name in chdir_options:
        dirs.extend(options.get(name, ()))
    parts = []              # joined once: the directories since the last absolute one
    size = 0
    for d in dirs:
        if d:
            if d[0] in "/~":
                parts = []
                size = 0
            parts.append(d.rstrip("/"))
            size += len(d) + 1
            if size > MAX_CHDIR_WORK:
                raise LimitError(CHDIR_MSG)
    if not parts:
        return path_args, writes
    base = "/".join(parts) or "/"
    budget = [MAX_CHDIR_WORK]

    def under(paths, own):
        out = []
        for p in paths:
            if own and own.get(p):
                own[p] -= 1
                out.append(p)
                continue
            if not p or p[0] in "/~" or p == "-" or "://" in p:
                out.append(p)
                continue
            budget[0] -= len(base) + len(p) + 1
            if budget[0] < 0:
                raise LimitError(CHDIR_MSG)
            out.append(base + "/" + p if base != "/" else "/" + p)
        return out

    own = {}
    for d in dirs:
        own[d] = own.get(d, 0) + 1
    return under(path_args, own), under(writes, None)


def unbundle(args, value_options):
    """args with an old-style first argument spelled out (a spec's bundled_first): `cf
    FILE x` -> `-c -f FILE x`, each letter a short flag, a value option's value taken
    from the words after the cluster in order (`tar cfb FILE 20` -> `-c -f FILE -b 20`).
    args unchanged when the first argument is empty or starts with `-`. Linear in the
    number of arguments."""
    first = args[0] if args else ""
    if not first or first[0] == "-":
        return args
    out = []
    k = 1
    for ch in first:
        f = "-" + ch
        out.append(f)
        if f in value_options and k < len(args):
            out.append(args[k])
            k += 1
    out.extend(args[k:])
    return out
