"""Reading a jobspec file's bytes: only from a regular file, and never more than MAX_SPEC_BYTES.

The file is opened with O_NONBLOCK, so a named pipe with no writer cannot block the open, and it is then
checked on the open descriptor (fstat), so what is read is exactly what was checked. A FIFO, a device such as
/dev/zero, a socket or a folder is refused by name before a byte is read.
"""

from __future__ import annotations

import os
import stat

from toolkit.spec.limits import MAX_SPEC_BYTES

_KINDS = (
    (stat.S_ISDIR, "is a folder, not a jobspec file"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file: save the jobspec to a file and pass that"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
)


class SpecFileProblem(Exception):
    """The file cannot be a jobspec; ``str()`` says why, in words for the user."""


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    for test, words in _KINDS:
        if test(mode):
            return words
    return "is not a regular file"


def read_spec_bytes(path: str | os.PathLike, limit: int = MAX_SPEC_BYTES) -> bytes:
    """The file's bytes; raises SpecFileProblem for a missing, unreadable, non-regular or too large file."""
    try:
        # stat first: opening a socket fails with an unhelpful ENXIO, and a device should not even be opened.
        reason = _not_regular(os.stat(path).st_mode)
        if reason:
            raise SpecFileProblem(reason)
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SpecFileProblem("no such jobspec file") from None
    except NotADirectoryError:
        raise SpecFileProblem("no such jobspec file (a part of the path is not a folder)") from None
    except OSError as error:
        raise SpecFileProblem(f"cannot read the jobspec: {error.strerror or error}") from None
    try:
        # Checked again on what was opened: the name may have been replaced since the stat.
        reason = _not_regular(os.fstat(descriptor).st_mode)
        if reason:
            raise SpecFileProblem(reason)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(descriptor, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise SpecFileProblem(f"cannot read the jobspec: {error.strerror or error}") from None
    finally:
        os.close(descriptor)
    if size > limit:
        raise SpecFileProblem(
            f"is larger than {_size_words(limit)}, the most a jobspec may be: is it the right file?"
        )
    return b"".join(chunks)


def _size_words(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"
