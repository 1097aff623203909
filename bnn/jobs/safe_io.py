"""Reading files that someone else may have put there: run folders are untrusted input.

Only regular files are read, never through a symbolic link, never from a FIFO or a device
(which could block forever or feed endless bytes), never larger than a limit, and never outside
the folder they are looked up in. Each refusal is a :class:`UnsafePathError` whose message names
the file and the reason.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_FILE_BYTES = 2 * 1024**3  # the paper's 3x4096 MLP saves 150 MB of weights


class UnsafePathError(OSError):
    """A path that is not a plain file or folder inside the folder it was looked up in."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a file" if stat.S_ISREG(mode) else "not a regular file"


def check_folder(path: Path, parent: Path) -> None:
    """``path`` is a real folder (no link) directly inside ``parent``."""
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise UnsafePathError(f"{path.name} is {_kind(mode)}, not a folder: not read")
    if path.resolve().parent != parent.resolve():
        raise UnsafePathError(f"{path.name} resolves outside {parent}: not read")


def is_regular_file(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (a link to one is not)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path``; :class:`UnsafePathError` for a link, a pipe, a
    device or a file over ``limit`` bytes, FileNotFoundError when it is missing."""
    mode = os.lstat(path).st_mode
    if not stat.S_ISREG(mode):
        raise UnsafePathError(f"{path.name} is {_kind(mode)}: not read")
    # O_NOFOLLOW and O_NONBLOCK: a file swapped for a link or a pipe since lstat() is not followed
    # and cannot block; fstat() then checks what was actually opened.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"{path.name} is {_kind(info.st_mode)}: not read")
        if info.st_size > limit:
            raise UnsafePathError(f"{path.name} is {info.st_size:,} bytes, more than {limit:,}: not read")
        return handle.read(limit + 1)[:limit]
