"""Writing files and directories so that readers see the old content or the new, never a part:
a temporary file (or directory) beside the target, renamed over it when complete."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically and durably (temp file, fsync, rename, fsync dir).

    The temporary file is ``.<name>.<random>.part`` in the same directory (created if needed);
    it is removed on failure. ``mode`` applies to the new file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def replace_directory(staging: Path, target: Path) -> None:
    """Put the complete directory ``staging`` at ``target``, replacing what was there.

    ``staging`` must be on the same file system (beside ``target``). The old directory is moved
    aside first and removed last, so ``target`` holds the old or the new content at every
    moment a reader looks, except between the two renames.
    """
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / target.name)
        os.replace(staging, target)
        shutil.rmtree(old)
    else:
        os.replace(staging, target)
