"""Text from metadata, made safe to show: shared by the CLI's output and the stages' messages."""

from __future__ import annotations


def shown(text: object, *, multiline: bool = False) -> str:
    """``text`` safe to print on a terminal: control, escape and invisible characters (from metadata: ids,
    paths, values) are shown as Python escapes (``\\n``, ``\\x1b``, ``\\u202e``) instead of acting on the
    terminal. ``multiline`` keeps newlines and tabs (a command, a multi-line message)."""
    text = str(text)
    if text.isprintable():
        return text
    kept = "\n\t" if multiline else ""
    return "".join(
        char if char.isprintable() or char in kept else char.encode("unicode_escape").decode("ascii")
        for char in text
    )
