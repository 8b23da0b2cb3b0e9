"""One process at a time writes a run folder: an advisory lock on ``RUN_DIR/.lock``.

The lock is ``fcntl.flock`` on that file, held by the open file, so the kernel releases it when the process
ends in any way (SIGKILL included): a stale lock cannot exist, and resuming after a crash just works.
While held, the file names its holder (process id, host, start time in UTC) for the message another
process gets. The file itself stays, empty, after the run: removing it would let a process that opened
it just before lock a file no longer in the folder while a third locks a new one.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
from typing import Iterator

from jointvae_tf.errors import JointVAEError

LOCK_FILE = ".lock"


@contextlib.contextmanager
def lock_run_folder(run_dir: str) -> Iterator[None]:
    """Hold ``run_dir`` (created when missing) for the block; a JointVAEError naming the holder when another
    process holds it already.

    flock locks belong to the open file, not the process: a second lock from the same process (another
    training run in a thread) is refused too.
    """
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JointVAEError(f"run folder {run_dir}: in use by {_holder(path)}; wait until it ends, or train "
                                "into another folder") from None
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _holder(path: str) -> str:
    """``process PID on HOST since TIME`` from the lock file, or ``another process`` while it is being written."""
    try:
        with open(path) as f:
            holder = json.load(f)
        return f"process {int(holder['pid'])} on {holder['host']} since {holder['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
