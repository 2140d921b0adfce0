"""Path confinement: every user-given path (``save_dir``, ``pretrained_weights``, data files) goes
through one :class:`PathPolicy`, so a REST caller cannot read or write outside the server root.
"""

from __future__ import annotations

import glob as _glob
import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["PathPolicy", "os_reason"]


def os_reason(exc: Exception) -> str:
    """An OS error's reason without the (possibly huge, user-supplied) path."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


class PathPolicy:
    """Resolves user paths against ``root_dir``; with ``confine``, refuses any that leave it.

    Every error is a :class:`~eegtrain_jupyter.errors.ConfigError` naming the field and, where
    it helps, the resolved path.
    """

    def __init__(self, root_dir: str | os.PathLike[str], *, confine: bool = False):
        self.root_dir = Path(root_dir).resolve()
        self.confine = confine

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
        if self.confine and not resolved.is_relative_to(self.root_dir):
            raise ConfigError.field(field, f"must stay inside the server root {self.root_dir}")
        return resolved

    def directory(self, value: str, field: str) -> Path:
        """A folder to write into: it, or its nearest existing parent, must be a directory."""
        resolved = self.resolve(value, field)
        try:
            if resolved.exists() and not resolved.is_dir():
                raise ConfigError.field(field, f"{resolved} exists and is not a directory")
            existing = next(p for p in (resolved, *resolved.parents) if p.exists())
            if not existing.is_dir():
                raise ConfigError.field(field, f"{existing} is a file, not a directory")
        except (ValueError, OSError) as exc:  # name too long, unreadable parent...
            raise ConfigError.field(field, f"not a usable path: {os_reason(exc)}") from None
        return resolved

    def file(self, value: str, field: str) -> Path:
        """An existing file to read."""
        resolved = self.resolve(value, field)
        try:
            ok = resolved.is_file()
        except OSError:
            ok = False
        if not ok:
            raise ConfigError.field(field, f"no such file: {resolved}")
        return resolved

    def files(self, patterns: list[str], field: str) -> list[Path]:
        """Every file the paths or globs name (``*``, ``?``, ``[...]``, ``**``), sorted, each once.

        A pattern is resolved like :meth:`resolve` (relative to the root, confined when set);
        each match is checked again, so a symlink out of the root is refused. A plain path that
        does not exist, or a glob that matches no file, is an error naming it.
        """
        out: dict[Path, None] = {}
        for i, pattern in enumerate(patterns):
            name = f"{field}[{i}]"
            if not _glob.has_magic(pattern):
                out[self.file(pattern, name)] = None
                continue
            base = Path(os.path.expanduser(pattern))
            if not base.is_absolute():
                base = self.root_dir / base
            if self.confine:  # the literal part of the pattern must already be inside the root
                self.resolve(str(base).split("*")[0].split("?")[0].split("[")[0] or "/", name)
            matches = sorted(m for m in _glob.glob(str(base), recursive=True) if os.path.isfile(m))
            if not matches:
                raise ConfigError.field(name, f"no file matches {pattern!r}")
            for match in matches:
                out[self.file(match, name)] = None
        return list(out)
