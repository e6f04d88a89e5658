"""Turning transport exceptions (urllib3 inside requests inside docker-py) into a few words."""

from __future__ import annotations

import re

_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^\"')\]]+)|\w+Error\(-?\d+, '([^']+)'\)")


def short_reason(error: BaseException) -> str:
    text = str(error)
    match = _ERRNO_TEXT.search(text)
    if match:
        return (match.group(1) or match.group(2)).strip()
    if "timed out" in text.lower() or "timeout" in type(error).__name__.lower():
        return "timed out"
    line = text.strip().splitlines()[-1] if text.strip() else type(error).__name__
    return line if len(line) < 200 else line[:197] + "..."
