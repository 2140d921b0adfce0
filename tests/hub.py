"""A stand-in Hugging Face hub on 127.0.0.1: the ``resolve`` route ``hf_hub_download`` uses.

``HEAD``/``GET /{owner}/{name}/resolve/{revision}/{filename}`` answer as the hub does: the file with
``X-Repo-Commit`` (the commit the revision names), ``ETag`` and ``Content-Length``; a 404 with
``X-Error-Code`` ``RepoNotFound``, ``RevisionNotFound`` or ``EntryNotFound`` otherwise. A file listed
in :attr:`StandInHub.truncated` is announced at its full size and sent cut in half, as a dropped
connection behind a proxy leaves it; :attr:`StandInHub.body_s` spreads each body over that many
seconds (a slow network), in :data:`PARTS` parts.
"""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

PARTS = 10
"""A body is sent in this many parts when :attr:`StandInHub.body_s` is set."""


class StandInHub:
    """Serves :attr:`repos` (``repo_id -> {commit: {filename: bytes}}``, refs in :attr:`refs`)."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, dict[str, bytes]]] = {}
        self.refs: dict[str, dict[str, str]] = {}
        self.truncated: set[str] = set()
        self.body_s = 0.0
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                hub._answer(self, body=False)

            def do_GET(self) -> None:
                hub._answer(self, body=True)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, repo_id: str, folder: Path, *, revision: str = "main") -> str:
        """Publish every file of ``folder`` as a new commit of ``repo_id`` at ``revision``."""
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        digest = hashlib.sha1(repo_id.encode())
        for name, data in files.items():
            digest.update(name.encode() + hashlib.sha256(data).digest())
        commit = digest.hexdigest()
        self.repos.setdefault(repo_id, {})[commit] = files
        self.refs.setdefault(repo_id, {})[revision] = commit
        return commit

    def _answer(self, handler: BaseHTTPRequestHandler, *, body: bool) -> None:
        self.requests.append((handler.command, handler.path))
        parts = [unquote(p) for p in handler.path.split("?")[0].strip("/").split("/")]
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(handler, 404, "RepoNotFound")
        repo_id, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        if repo_id not in self.repos:
            return self._error(handler, 404, "RepoNotFound")
        commit = self.refs[repo_id].get(revision, revision)
        if commit not in self.repos[repo_id]:
            return self._error(handler, 404, "RevisionNotFound")
        files = self.repos[repo_id][commit]
        if filename not in files:
            return self._error(handler, 404, "EntryNotFound", commit)
        data = files[filename]
        sent = data[: len(data) // 2] if body and filename in self.truncated else data
        handler.send_response(200)
        handler.send_header("X-Repo-Commit", commit)
        handler.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        handler.send_header("Content-Length", str(len(sent)))
        handler.end_headers()
        if body:
            step = max(1, -(-len(sent) // PARTS) if self.body_s else len(sent))
            for start in range(0, len(sent), step):
                handler.wfile.write(sent[start : start + step])
                handler.wfile.flush()
                if self.body_s:
                    time.sleep(self.body_s / PARTS)

    @staticmethod
    def _error(handler: BaseHTTPRequestHandler, status: int, code: str, commit: str | None = None) -> None:
        handler.send_response(status)
        handler.send_header("X-Error-Code", code)
        if commit:
            handler.send_header("X-Repo-Commit", commit)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def __enter__(self) -> StandInHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
