"""Path confinement: every user-given path (``save_dir``, ``pretrained_weights``, data files) goes
through one :class:`PathPolicy`, so a REST caller cannot read or write outside the server root.

Globs are expanded here too, with limits: ``**`` never descends into a symlinked folder (so a link
to its own folder cannot make it endless), and a pattern stops with an error after
:data:`MAX_GLOB_SCANNED` directory entries or :data:`MAX_GLOB_MATCHES` matches.
"""

from __future__ import annotations

import fnmatch
import glob as _glob
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError

__all__ = ["MAX_GLOB_MATCHES", "MAX_GLOB_SCANNED", "PathPolicy", "os_reason"]

MAX_GLOB_SCANNED = 10_000
"""Directory entries one glob pattern may look at before it is refused."""
MAX_GLOB_MATCHES = 2_000
"""Files one glob pattern may match before it is refused."""


def os_reason(exc: Exception) -> str:
    """An OS error's reason without the (possibly huge, user-supplied) path."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


class _TooMany(Exception):
    pass


class PathPolicy:
    """Resolves user paths against ``root_dir``; with ``confine``, refuses any that leave it.

    Every error is a :class:`~eegtrain_jupyter.errors.ConfigError` naming the field and, where
    it helps, the path as :meth:`shown` (relative to the root: no absolute server path).
    """

    def __init__(self, root_dir: str | os.PathLike[str], *, confine: bool = False):
        self.root_dir = Path(root_dir).resolve()
        self.confine = confine

    def shown(self, path: Path) -> str:
        """``path`` as messages and summaries show it: relative to the root when inside it, else
        (only possible unconfined, i.e. for a local user) as given; never the root itself."""
        if path.is_absolute() and path.is_relative_to(self.root_dir):
            return path.relative_to(self.root_dir).as_posix() or "."
        return path.name if self.confine else str(path)

    def resolve(self, value: str, field: str) -> Path:
        """``value`` as an absolute path: ``~`` expanded, relative to ``root_dir``, symlinks
        followed (so an escaping link is caught), inside ``root_dir`` when confined."""
        try:
            path = Path(os.path.expanduser(value))
            if not path.is_absolute():
                path = self.root_dir / path
            resolved = path.resolve()
        except (ValueError, OSError) as exc:  # NUL byte, name too long, unreadable parent...
            raise ConfigError.field(field, f"not a usable path: {os_reason(exc)}") from None
        self.check_inside(resolved, field)
        return resolved

    def check_inside(self, resolved: Path, field: str, what: str = "") -> None:
        """Refuse a resolved path outside the root (when confined); ``what`` names it in the message."""
        if self.confine and not resolved.is_relative_to(self.root_dir):
            raise ConfigError.field(field, f"{what + ' ' if what else ''}must stay inside the server root")

    def directory(self, value: str, field: str) -> Path:
        """A folder to write into: it, or its nearest existing parent, must be a directory."""
        resolved = self.resolve(value, field)
        try:
            exists = resolved.exists()
            is_dir = resolved.is_dir()
            existing = next(p for p in (resolved, *resolved.parents) if p.exists())
            existing_is_dir = existing.is_dir()
        except (ValueError, OSError) as exc:  # name too long, unreadable parent...
            raise ConfigError.field(field, f"not a usable path: {os_reason(exc)}") from None
        if exists and not is_dir:
            raise ConfigError.field(field, f"{self.shown(resolved)} exists and is not a directory")
        if not existing_is_dir:
            raise ConfigError.field(field, f"{self.shown(existing)} is a file, not a directory")
        return resolved

    def file(self, value: str, field: str) -> Path:
        """An existing regular file to read (not a folder, FIFO, device or socket)."""
        resolved = self.resolve(value, field)
        self.check_regular(resolved, field)
        return resolved

    def check_regular(self, resolved: Path, field: str, what: str = "") -> None:
        """Refuse a path that does not exist or is not a regular file (``os.stat``, no ``open``:
        opening a FIFO would block)."""
        shown = f"{what + ' ' if what else ''}{self.shown(resolved)}"
        try:
            mode = os.stat(resolved).st_mode
        except (ValueError, OSError):
            raise ConfigError.field(field, f"no such file: {shown}") from None
        if not stat.S_ISREG(mode):
            raise ConfigError.field(field, f"{shown} is not a regular file")

    def files(self, patterns: list[str], field: str) -> list[tuple[Path, str]]:
        """Every file the paths or globs name (``*``, ``?``, ``[...]``, ``**``), each once, with the
        field of the pattern that named it first (``data.paths[0]``).

        A pattern is resolved like :meth:`resolve` (relative to the root, confined when set);
        each match is checked again, so a symlink out of the root is refused. A plain path that
        does not exist, or a glob that matches no file, is an error naming it; so is a glob that
        looks at more than :data:`MAX_GLOB_SCANNED` entries or matches more than
        :data:`MAX_GLOB_MATCHES` files. Matches of one glob are sorted.
        """
        out: dict[Path, str] = {}
        for i, pattern in enumerate(patterns):
            name = f"{field}[{i}]"
            if not _glob.has_magic(pattern):
                out.setdefault(self.file(pattern, name), name)
                continue
            base = Path(os.path.expanduser(pattern))
            if not base.is_absolute():
                base = self.root_dir / base
            parts = base.parts
            literal = next(k for k, part in enumerate(parts) if _glob.has_magic(part))
            start = self.resolve(str(Path(*parts[:literal])), name)  # must already be inside the root
            try:
                matches = sorted(_Glob(parts[literal:]).run(start))
            except _TooMany as exc:
                raise ConfigError.field(name, f"{pattern!r} {exc}; name fewer files") from None
            if not matches:
                raise ConfigError.field(name, f"no file matches {pattern!r}")
            for match in matches:
                out.setdefault(self.file(str(match), name), name)
        return list(out.items())


class _Glob:
    """One glob's expansion below a folder: ``glob.glob(recursive=True)``'s rules (a wildcard
    skips names starting with ``.``; ``**`` is zero or more folders), except that ``**`` does not
    descend into symlinked folders, and the work is bounded."""

    def __init__(self, parts: tuple[str, ...]):
        self.parts = parts
        self.scanned = 0
        self.matched = 0

    def run(self, start: Path) -> set[Path]:
        return set(self._expand(start, 0))

    def _entries(self, folder: Path) -> Iterator[os.DirEntry[str]]:
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    self.scanned += 1
                    if self.scanned > MAX_GLOB_SCANNED:
                        raise _TooMany(f"looks at more than {MAX_GLOB_SCANNED} entries")
                    yield entry
        except OSError:  # not a folder, unreadable
            return

    def _expand(self, base: Path, k: int) -> Iterator[Path]:
        if k == len(self.parts):
            if base.is_file():
                self.matched += 1
                if self.matched > MAX_GLOB_MATCHES:
                    raise _TooMany(f"matches more than {MAX_GLOB_MATCHES} files")
                yield base
            return
        part, last = self.parts[k], k == len(self.parts) - 1
        if part == "**":
            yield from self._expand(base, k + 1)  # zero folders
            for entry in self._entries(base):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    yield from self._expand(Path(entry.path), k)
                elif last:  # a trailing ``**`` matches the files too
                    yield from self._expand(Path(entry.path), k + 1)
        elif _glob.has_magic(part):
            hidden = part.startswith(".")
            for entry in self._entries(base):
                visible = hidden or not entry.name.startswith(".")
                if visible and fnmatch.fnmatchcase(entry.name, part) and (last or entry.is_dir()):
                    yield from self._expand(Path(entry.path), k + 1)
        else:
            yield from self._expand(base / part, k + 1)
