"""Reading a file the user names (a policy, a stack file) without ever hanging or filling memory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileShapeError(ValueError):
    """The path is not a regular file (``kind`` names what it is), or it is larger than allowed (``kind`` None)."""

    def __init__(self, message: str, kind: str | None = None):
        super().__init__(message)
        self.kind = kind


def read_regular_file(path: Path, limit: int, allowed: str = "allowed") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, without ever blocking on the open or the read.

    A FIFO, a device (``/dev/zero``) or a directory is refused by ``fstat`` on a non-blocking descriptor
    before anything is read, and at most ``limit + 1`` bytes are read (a file that grows meanwhile).
    ``OSError`` (a missing file included) passes through.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _NOT_REGULAR if test(info.st_mode)), "not a file")
            raise FileShapeError(f"{path} is {kind}, not a regular file", kind)
        if info.st_size > limit:
            raise FileShapeError(f"{path} is {info.st_size} bytes, more than the {limit} bytes {allowed}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileShapeError(f"{path} has more than the {limit} bytes {allowed}")
        return b"".join(chunks)
    finally:
        os.close(fd)
