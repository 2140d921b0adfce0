"""Durable, atomic file writes: a reader (or a crash) never sees half a file.

Every write goes to a temp file in the same folder (named after the writing process, so
recovery can tell a dead writer's leftovers from a live one's), is fsynced, replaces the target
with ``os.replace``, and the folder is fsynced too. Files get the umask's mode, like any other file
the user creates. A full disk is reported as :class:`~eegtrain_jupyter.errors.InsufficientStorage` naming
the file, with the target left as it was.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .errors import InsufficientStorage

__all__ = [
    "atomic_path",
    "copy_atomic",
    "fsync_dir",
    "now_iso",
    "read_json",
    "remove_orphan_temp_files",
    "temp_prefix",
    "write_json",
    "write_with",
]


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second (as run records and model cards carry it)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _file_mode() -> int:
    """Mode of a new output file: what ``open(path, "w")`` would give (``mkstemp`` gives 0600).

    The umask is read from ``/proc`` where there is one: setting it to read it back would,
    for an instant, change it for every thread of the process.
    """
    try:
        with open("/proc/self/status") as fh:
            mask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


_TEMP = re.compile(r"^\..+\.(?P<pid>\d+)\.[^.]+\.tmp$")


def temp_prefix(name: str) -> str:
    """Start of the temp-file name this process uses for ``name``."""
    return f".{name}.{os.getpid()}."


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike, *, sync_dir: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, fsync it, ``os.replace`` it in, fsync the
    folder (unless ``sync_dir`` is false: the caller fsyncs it later, see :func:`fsync_dir`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _file_mode())
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
        if sync_dir:
            fsync_dir(path.parent)
    except Exception as exc:
        if _out_of_space(exc):
            raise InsufficientStorage(f"no space left on device writing {path.name}") from exc
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def _out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk or quota; torch's writer wraps the
    ``OSError`` in a ``RuntimeError`` whose message is all that is left of it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(seen, RuntimeError) and (
            "No space left" in str(seen) or "file write failed" in str(seen)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def remove_orphan_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete temp files in ``folder`` left by writers that are no longer running; return them.

    A temp file whose writer (the pid in its name) is alive, on this host, is never touched.
    """
    import psutil

    removed: list[Path] = []
    try:
        candidates = list(Path(folder).glob(".*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        match = _TEMP.match(tmp.name)
        if match is None or psutil.pid_exists(int(match["pid"])):
            continue
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def write_with(
    path: str | os.PathLike, mode: str, writer: Callable[[IO], None], sync_dir: bool = True
) -> Path:
    with atomic_path(path, sync_dir=sync_dir) as tmp, open(tmp, mode) as fh:
        writer(fh)
    return Path(path)


def write_json(path: str | os.PathLike, data: Any, *, sync_dir: bool = True) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return write_with(path, "w", lambda fh: json.dump(data, fh, indent=2, allow_nan=False), sync_dir)


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as fh:
        return json.load(fh)


def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` over ``dst`` so that ``dst`` is replaced in one step."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)
