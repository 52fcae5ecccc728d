"""Exclusive locks on a run folder or an export target, so two processes never write one folder at once.

flock(2) locks belong to the open file: the kernel releases them when the holder exits or is killed, so a
crash never leaves a stale lock behind. The lock file holds the holder's pid for the error message."""
import fcntl
import os

from tfgan_cifar.lib.errors import Busy


class FolderLock:
    """`with FolderLock(path, what):` -- holds an exclusive lock on the file `path` or raises Busy naming the
    holder's pid."""

    def __init__(self, path, what):
        self.path, self.what, self.fd = path, what, None

    def __enter__(self):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Busy(f"{self.what} is in use by process {holder}; wait for it to finish or use another folder")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None
        return False
