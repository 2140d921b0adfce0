"""Every training endpoint refuses requests without a valid token (403, JSON, nothing
started); cookie-authenticated POSTs need Jupyter's XSRF token; the ``eegtrain``
auth resource reaches the server's authorizer."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from configs import QUICK
from jupyter_server.auth.authorizer import Authorizer
from support import training_threads

ENDPOINTS = [
    ("POST", "start"),
    ("POST", "stop"),
    ("GET", "status"),
    ("GET", "history"),
    ("GET", "runs"),
    ("GET", "config"),
    ("GET", "config/schema"),
    ("POST", "config/validate"),
    ("GET", "openapi.json"),
    ("GET", "no/such/endpoint"),
]


def assert_nothing_started(manager, root) -> None:
    assert not manager.is_active()
    assert manager.status().state == "idle"
    assert not training_threads()
    assert not (Path(root) / "models").exists()


def body_for(method: str) -> bytes | None:
    return json.dumps(QUICK).encode() if method == "POST" else None


async def test_every_endpoint_needs_a_valid_token(api, manager, jp_root_dir):
    for method, path in ENDPOINTS:
        for token in (None, "wrong-token", api.token + "x", ""):
            resp = await api.raw(
                method, path, body_for(method), token=token, headers={"Content-Type": "application/json"}
            )
            assert resp.code == 403, (method, path, token, resp.code)
            assert resp.headers["Content-Type"].startswith("application/json")
            assert json.loads(resp.body)["error"]
        resp = await api.raw(
            method,
            f"{path}?token=wrong",
            body_for(method),
            token=None,
            headers={"Content-Type": "application/json"},
        )
        assert resp.code == 403, (method, path)
    assert_nothing_started(manager, jp_root_dir)
    # the same requests with the right token get in (so the 403s above are about the token)
    for method, path in ENDPOINTS:
        if path == "start":
            continue
        resp = await api.raw(
            method,
            path,
            body_for(method) if path != "stop" else None,
            headers={"Content-Type": "application/json"},
        )
        assert resp.code == (404 if path.startswith("no/") else 200), (method, path)


async def login_cookie(api) -> str:
    """Log in the way a browser does (token in the URL once) and return the Cookie header."""
    resp = await api.raw("GET", f"status?token={api.token}", token=None)
    assert resp.code == 200
    cookie = SimpleCookie()
    for header in resp.headers.get_list("Set-Cookie"):
        cookie.load(header)
    names = [n for n in cookie if n.startswith("username-")]
    assert names, resp.headers.get_list("Set-Cookie")
    return "; ".join(f"{n}={cookie[n].value}" for n in names)


async def test_cookie_post_without_xsrf_is_refused(api, manager, jp_root_dir):
    cookie = await login_cookie(api)
    resp = await api.raw("GET", "status", token=None, headers={"Cookie": cookie})
    assert resp.code == 200  # the cookie alone authenticates reads
    json_ct = {"Content-Type": "application/json"}
    for path in ("start", "stop", "config/validate"):
        resp = await api.raw(
            "POST", path, json.dumps(QUICK), token=None, headers={"Cookie": cookie, **json_ct}
        )
        assert resp.code == 403, (path, resp.code)
        assert "xsrf" in json.loads(resp.body)["error"].lower()
        # a mismatched XSRF token is refused too
        resp = await api.raw(
            "POST",
            path,
            json.dumps(QUICK),
            token=None,
            headers={"Cookie": f"{cookie}; _xsrf=abc123", "X-XSRFToken": "def456", **json_ct},
        )
        assert resp.code == 403, (path, resp.code)
    assert_nothing_started(manager, jp_root_dir)
    # with a matching XSRF cookie and header the browser's POST gets in
    resp = await api.raw(
        "POST",
        "config/validate",
        json.dumps({"n_epochs": 2}),
        token=None,
        headers={"Cookie": f"{cookie}; _xsrf=abc123", "X-XSRFToken": "abc123", **json_ct},
    )
    assert resp.code == 200 and json.loads(resp.body)["valid"] is True


class NoTrainingWrites(Authorizer):
    """Lets everyone read but no one write on the ``eegtrain`` resource."""

    def is_authorized(self, handler, user, action, resource):
        return not (resource == "eegtrain" and action == "write")


@pytest.mark.parametrize("server_config_extra", [{"ServerApp": {"authorizer_class": NoTrainingWrites}}])
async def test_authorizer_sees_the_eegtrain_resource(api, manager, jp_root_dir):
    code, body = await api("POST", "start", QUICK)
    assert code == 403 and "eegtrain" in body["error"]
    code, _ = await api("POST", "config/validate", {"n_epochs": 2})
    assert code == 403
    code, status = await api("GET", "status")
    assert code == 200 and status["state"] == "idle"
    assert_nothing_started(manager, jp_root_dir)


@pytest.mark.parametrize("server_config_extra", [{"ServerApp": {"authorizer_class": NoTrainingWrites}}])
async def test_unknown_paths_are_authorized_per_verb(api, manager):
    """``@authorized`` caches the action of the method it wraps: a read first must not make
    every later verb on the same handler a read."""
    code, body = await api("GET", "no/such/endpoint")
    assert code == 404 and body["type"] == "NotFound" and "training/no/such/endpoint" in body["error"]
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        code, body = await api(method, "no/such/endpoint")
        assert code == 403, (method, code, body)
    code, _ = await api("GET", "no/such/endpoint")
    assert code == 404
