"""Release check: build the sdist and wheel, check them, install the wheel into its own venv and
drive a real Jupyter server from it (``make dist-check``).

Steps, each timed:

1. ``python -m build`` (the sdist, then the wheel built from that sdist) into a temporary folder;
2. ``twine check --strict``;
3. contents: the sdist carries the package, tests, notebooks, docs, LICENSE and CHANGELOG and
   nothing else (no venv, run outputs or caches); the wheel carries ``py.typed`` and the
   server-extension config as shared data;
4. a virtual environment with the wheel installed (not editable) and ``pip check``;
5. from that venv, in an empty folder and with private Jupyter config/data/runtime folders:
   ``eegtrain --version``, ``jupyter server extension list`` shows ``eegtrain_jupyter`` enabled,
   a real ``jupyter server`` answers ``GET /training/config`` with its token (403 without), and a
   quick training started over ``POST /training/start`` reaches ``completed`` and writes its
   checkpoint.

The venv is kept in ``--venv`` (default ``build/dist-venv``, override with ``DIST_VENV``). It is
reused only while the wheel's dependency list and the Python are the same; the project's wheel is
then force-reinstalled into it (skipped when the wheel's hash is the one already installed).
``--fresh`` (or ``DIST_CHECK_FRESH=1``) always starts from an empty venv. ``--discard-venv`` (or
``DIST_CHECK_DISCARD=1``) removes the venv after a pass: it holds a second copy of torch and its
CUDA libraries (about 7 GB), and ``make test`` runs the suite after it on the same disk.

Only the standard library is imported here; ``build`` and ``twine`` must be installed in the Python
that runs it (the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DIST_NAME = "eegtrain_jupyter"
QUICK_RUN = {"n_epochs": 1, "n_samples_per_class": 100, "device": "cpu"}

# what a packager needs from the sdist, and what must never be in it
SDIST_REQUIRED = [
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "eegtrain_jupyter/__init__.py",
    "eegtrain_jupyter/py.typed",
    "jupyter-config/jupyter_server_config.d/eegtrain_jupyter.json",
    "tests/conftest.py",
    "notebooks/01_quick_start.ipynb",
    "docs/rest.md",
]
SDIST_FORBIDDEN_PARTS = {
    ".venv",
    "venv",
    ".git",
    "build",
    "dist",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    "trained_models",
    "test-artifacts",
    ".eegtrain",
    ".runtime",
}
SDIST_FORBIDDEN_SUFFIXES = (".pyc", ".pyo", ".pth", ".pt", ".log")
WHEEL_REQUIRED = [
    "eegtrain_jupyter/__init__.py",
    "eegtrain_jupyter/py.typed",
    "eegtrain_jupyter/cli/main.py",
]
WHEEL_SHARED_CONFIG = "data/etc/jupyter/jupyter_server_config.d/eegtrain_jupyter.json"


class CheckFailed(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[dist-check] {msg}", flush=True)


@contextlib.contextmanager
def step(name: str, timings: dict[str, float]) -> Iterator[None]:
    t0 = time.perf_counter()
    log(f"{name} ...")
    yield
    timings[name] = time.perf_counter() - t0
    log(f"{name}: ok ({timings[name]:.1f} s)")


def run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run ``cmd``; its stdout and stderr together, or CheckFailed with them."""
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise CheckFailed(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout[-4000:]}")
    return proc.stdout


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- build and contents -------------------------------------------------------------------


def build(outdir: Path) -> tuple[Path, Path]:
    # no --sdist/--wheel: build makes the sdist, then the wheel from that sdist (so a file missing
    # from the sdist breaks the wheel too)
    run([sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)])
    sdists, wheels = sorted(outdir.glob("*.tar.gz")), sorted(outdir.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise CheckFailed(f"expected one sdist and one wheel in {outdir}, found {sdists + wheels}")
    return sdists[0], wheels[0]


def check_sdist(sdist: Path) -> int:
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    top = names[0].split("/", 1)[0]
    rel = [n.split("/", 1)[1] for n in names if "/" in n]
    missing = [p for p in SDIST_REQUIRED if p not in rel]
    bad = [
        p
        for p in rel
        if SDIST_FORBIDDEN_PARTS.intersection(p.split("/")) or p.endswith(SDIST_FORBIDDEN_SUFFIXES)
    ]
    if missing or bad:
        raise CheckFailed(f"sdist {top}: missing {missing}; must not contain {bad[:20]}")
    return len(rel)


def check_wheel(wheel: Path) -> tuple[int, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = sorted(
            line.split(":", 1)[1].strip()
            for line in zf.read(meta).decode().splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line
        )
    missing = [p for p in WHEEL_REQUIRED if p not in names]
    if not any(n.endswith(WHEEL_SHARED_CONFIG) for n in names):
        missing.append(f"*.data/{WHEEL_SHARED_CONFIG}")
    stray = [n for n in names if n.startswith(("tests/", "notebooks/", "bench/", "docs/"))]
    if missing or stray:
        raise CheckFailed(f"wheel {wheel.name}: missing {missing}; unexpected {stray[:20]}")
    return len(names), requires


# --- the venv -------------------------------------------------------------------------------


def venv_bin(venv: Path, name: str) -> Path:
    return venv / "bin" / name


def prepare_venv(venv: Path, wheel: Path, requires: list[str], fresh: bool) -> str:
    """Install ``wheel`` (not editable) into ``venv``; returns what was done."""
    base_python = getattr(sys, "_base_executable", sys.executable)
    deps_key = hashlib.sha256(
        json.dumps({"requires": requires, "python": sys.version, "base": base_python}).encode()
    ).hexdigest()
    wheel_hash = sha256(wheel)
    stamp = venv / ".dist-check.json"
    old: dict[str, Any] = {}
    if not fresh and stamp.exists() and venv_bin(venv, "python").exists():
        with contextlib.suppress(ValueError):
            old = json.loads(stamp.read_text())
    pip = [str(venv_bin(venv, "python")), "-m", "pip", "--quiet", "--disable-pip-version-check"]
    if old.get("deps_key") == deps_key:
        if old.get("wheel_sha256") == wheel_hash:
            done = "reused (same wheel already installed)"
        else:
            run([*pip, "install", "--force-reinstall", "--no-deps", str(wheel)])
            done = "reused (dependencies unchanged; wheel reinstalled)"
    else:
        if venv.exists():
            shutil.rmtree(venv)
        venv.parent.mkdir(parents=True, exist_ok=True)
        run([base_python, "-m", "venv", str(venv)])
        run([*pip, "install", "--upgrade", "pip"])
        run([*pip, "install", str(wheel)])
        done = "created (fresh venv, wheel and all dependencies installed)"
    run([*pip, "check"])
    stamp.write_text(json.dumps({"deps_key": deps_key, "wheel_sha256": wheel_hash, "wheel": wheel.name}))
    return done


# --- the installed package, from outside the source tree -------------------------------------


def isolated_env(venv: Path, scratch: Path) -> dict[str, str]:
    """The venv first on PATH; nothing from the source tree or the caller's Jupyter set-up."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "PYTHON", "EEGTRAIN_SERVER", "VIRTUAL_ENV", "CONDA"))
    }
    for sub in ("config", "data", "runtime"):
        (scratch / f"jupyter-{sub}").mkdir(parents=True, exist_ok=True)
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        JUPYTER_CONFIG_DIR=str(scratch / "jupyter-config"),
        JUPYTER_DATA_DIR=str(scratch / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(scratch / "jupyter-runtime"),
        PYTHONNOUSERSITE="1",
    )
    return env


def check_installed(venv: Path, env: dict[str, str], cwd: Path) -> str:
    code = (
        "import importlib.metadata as m, pathlib, eegtrain_jupyter as e; "
        "print(pathlib.Path(e.__file__).resolve()); print(e.__version__); "
        "print(m.version('eegtrain-jupyter'))"
    )
    where, version, meta_version = run([str(venv_bin(venv, "python")), "-c", code], env=env, cwd=cwd).split()
    site = (venv / "lib").resolve()
    if not where.startswith(str(site)):
        raise CheckFailed(f"eegtrain_jupyter imported from {where}, not from the venv's {site}")
    if version != meta_version:
        raise CheckFailed(f"__version__ {version} != metadata {meta_version}")
    cli = run([str(venv_bin(venv, "eegtrain")), "--version"], env=env, cwd=cwd).strip()
    if cli != f"eegtrain {version}":
        raise CheckFailed(f"eegtrain --version printed {cli!r}")
    return version


def check_extension_listed(venv: Path, env: dict[str, str], cwd: Path) -> str:
    out = run([str(venv_bin(venv, "jupyter")), "server", "extension", "list"], env=env, cwd=cwd)
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)  # colours
    lines = [ln.strip() for ln in out.splitlines() if DIST_NAME in ln]
    if not any("enabled" in ln for ln in lines) or "OK" not in out:
        raise CheckFailed(f"jupyter server extension list does not show {DIST_NAME} enabled:\n{out}")
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http(method: str, url: str, token: str | None, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"token {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"null")
        except ValueError:
            return exc.code, raw.decode(errors="replace")[:500]


def check_server(venv: Path, env: dict[str, str], scratch: Path, timings: dict[str, float]) -> dict[str, Any]:
    root = scratch / "server-root"
    root.mkdir()
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}/"
    cmd = [
        str(venv_bin(venv, "jupyter")),
        "server",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = scratch / "jupyter-server.log"
    facts: dict[str, Any] = {}
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            cmd, env=env, cwd=root, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            t0 = time.perf_counter()
            while True:
                if proc.poll() is not None:
                    raise CheckFailed(f"jupyter server exited {proc.returncode}")
                try:
                    code, config = http("GET", base + "training/config", token)
                    break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    if time.perf_counter() - t0 > 120:
                        raise CheckFailed("jupyter server did not answer within 120 s") from None
                    time.sleep(0.25)
            timings["server start to first answer"] = time.perf_counter() - t0
            if code != 200 or not isinstance(config, dict) or "n_epochs" not in config:
                raise CheckFailed(f"GET /training/config: {code} {config}")
            facts["GET /training/config"] = f"200, {len(config)} fields"
            code, _ = http("GET", base + "training/config", None)
            if code != 403:
                raise CheckFailed(f"GET /training/config without the token: {code}, expected 403")
            facts["without token"] = code

            t0 = time.perf_counter()
            code, started = http("POST", base + "training/start", token, QUICK_RUN)
            if code != 200:
                raise CheckFailed(f"POST /training/start: {code} {started}")
            while True:
                code, status = http("GET", base + "training/status", token)
                if code != 200 or not isinstance(status, dict):
                    raise CheckFailed(f"GET /training/status: {code} {status}")
                if status["state"] not in ("preparing", "training", "stopping"):
                    break
                if time.perf_counter() - t0 > 300:
                    raise CheckFailed(f"quick run still {status['state']} after 300 s")
                time.sleep(0.5)
            timings["quick run over REST"] = time.perf_counter() - t0
            if status["state"] != "completed":
                raise CheckFailed(f"quick run ended {status['state']}: {status.get('error')}")
            checkpoint = root / "trained_models" / "best_synthetic_model.pth"
            if not checkpoint.is_file():
                raise CheckFailed(f"no checkpoint at {checkpoint}")
            facts["quick run"] = {
                k: status.get(k) for k in ("state", "run_id", "device", "best_val_acc", "current_epoch")
            }
            facts["checkpoint bytes"] = checkpoint.stat().st_size
        except BaseException:
            log(f"server log ({log_path}):\n{log_path.read_text()[-4000:]}")
            raise
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--venv", type=Path, default=Path(os.environ.get("DIST_VENV", ROOT / "build" / "dist-venv"))
    )
    parser.add_argument("--fresh", action="store_true", default=os.environ.get("DIST_CHECK_FRESH") == "1")
    parser.add_argument(
        "--discard-venv",
        action="store_true",
        default=os.environ.get("DIST_CHECK_DISCARD") == "1",
        help="remove the venv after a pass (frees its disk for what runs next)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (built files, server log)"
    )
    args = parser.parse_args(argv)
    venv = args.venv if args.venv.is_absolute() else ROOT / args.venv

    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="eegtrain-dist-check-"))
    try:
        with step("build sdist + wheel", timings):
            sdist, wheel = build(scratch / "dist")
        with step("twine check", timings):
            run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)])
        with step("contents", timings):
            n_sdist = check_sdist(sdist)
            n_wheel, requires = check_wheel(wheel)
        log(
            f"{sdist.name}: {n_sdist} files ({sdist.stat().st_size // 1024} KiB); "
            f"{wheel.name}: {n_wheel} files ({wheel.stat().st_size // 1024} KiB)"
        )
        with step("venv with the wheel", timings):
            done = prepare_venv(venv, wheel, requires, args.fresh)
        log(f"venv {venv}: {done}")
        work = scratch / "work"
        work.mkdir()
        env = isolated_env(venv, scratch)
        with step("installed package, eegtrain --version", timings):
            version = check_installed(venv, env, work)
        log(f"eegtrain-jupyter {version} imported from the venv")
        with step("jupyter server extension list", timings):
            line = check_extension_listed(venv, env, work)
        log(f"extension list: {line}")
        with step("real jupyter server: config and a quick run over REST", timings):
            facts = check_server(venv, env, scratch, timings)
        for key, value in facts.items():
            log(f"{key}: {value}")
    except CheckFailed as exc:
        log(f"FAILED: {exc}")
        log(f"files kept in {scratch}")
        return 1
    else:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            log(f"files kept in {scratch}")
        if args.discard_venv:
            freed = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
            shutil.rmtree(venv, ignore_errors=True)
            log(f"venv {venv}: removed ({freed / 2**30:.1f} GiB freed)")
    total = time.perf_counter() - t_all
    log("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    log(f"passed in {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
