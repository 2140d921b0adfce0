"""Pretrained weights the way researchers have them, read safely and matched key by key.

``pretrained_weights`` names one of:

* a local weights file: a ``state_dict`` (bare, or nested under ``model``/``state_dict``/
  ``model_state_dict``) saved with ``torch.save``, or a ``.safetensors`` file;
* a local Hugging Face snapshot folder, as braindecode's ``save_pretrained`` or
  ``hf download OWNER/NAME --local-dir DIR`` leave it (``config.json`` with ``model.safetensors``
  or ``pytorch_model.bin``);
* a hub id ``hf://OWNER/NAME[@REVISION]``, fetched with ``huggingface_hub`` into its cache and
  named afterwards by the commit it resolved to.

Safetensors is read in preference to a pickle; a pickle is read with ``weights_only=True`` and a
file that needs anything beyond tensors and plain containers is refused, so loading weights never
runs code. :func:`match_weights` compares the file's tensors with the model's, backbone and head
apart, and refuses weights that would leave the backbone mostly untrained.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from ..config.training import HUB_ID, HUB_PREFIX
from ..errors import ConfigError, FieldError

log = logging.getLogger(__name__)

__all__ = [
    "MIN_MATCHED",
    "SNAPSHOT_WEIGHTS",
    "HubId",
    "HubWeights",
    "LoadReport",
    "PretrainedWeightsError",
    "ProgressFn",
    "WeightsSource",
    "fetch",
    "locate",
    "match_weights",
    "read_weights",
    "resolve",
]

FIELD = "pretrained_weights"
SNAPSHOT_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
"""A snapshot folder's weights files, in the order they are preferred."""
MIN_MATCHED = 0.9
"""The share of the backbone's tensors a weights file must supply (matching name and shape)."""
_WRAPPERS = ("model_state_dict", "state_dict", "model")
_PREFIXES = ("module.", "model.", "student.", "labram.")


class PretrainedWeightsError(ConfigError):
    """Weights that cannot be used: a 400 on ``pretrained_weights`` (``reason`` says why)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__([FieldError(FIELD, reason)])


@dataclass(frozen=True)
class HubId:
    """A model repository on the Hugging Face hub, at a branch, tag or commit (None: ``main``)."""

    repo_id: str
    revision: str | None = None

    @classmethod
    def parse(cls, value: str) -> HubId | None:
        """The hub id ``value`` names, None for a local path; a malformed ``hf://`` id is refused."""
        if not value.startswith(HUB_PREFIX):
            return None
        match = HUB_ID.fullmatch(value)
        if match is None:
            raise PretrainedWeightsError("a hub id reads hf://OWNER/NAME or hf://OWNER/NAME@REVISION")
        return cls(match["repo_id"], match["revision"])

    def __str__(self) -> str:
        return f"{HUB_PREFIX}{self.repo_id}" + (f"@{self.revision}" if self.revision else "")

    def download_hint(self) -> str:
        """One command that fetches this snapshot on a machine with network access."""
        revision = f" --revision {self.revision}" if self.revision else ""
        folder = self.repo_id.rsplit("/", 1)[1]
        return (
            f"download it where the hub is reachable with `hf download {self.repo_id}{revision} "
            f"--local-dir {folder}` (`huggingface-cli download` in older huggingface_hub), copy the "
            f"folder here and set pretrained_weights to it"
        )


@dataclass(frozen=True)
class WeightsSource:
    """A local weights file ready to read, and how to name it to a user.

    Attributes
    ----------
    path : Path
        The file (inside a snapshot folder or the hub cache when the value named one).
    label : str
        What reports show: the hub id pinned to its commit, else the value as given.
    format : {"safetensors", "torch"}
        How the file is read.
    """

    path: Path
    label: str
    format: Literal["safetensors", "torch"]


def _format(path: Path) -> Literal["safetensors", "torch"]:
    return "safetensors" if path.suffix == ".safetensors" else "torch"


ProgressFn = Callable[[int, int | None], None]
"""``progress(done, total)``: bytes of the weights file downloaded so far, of ``total`` (None: unknown)."""


@dataclass(frozen=True)
class HubWeights:
    """A hub snapshot's weights file as the hub names it, before (or without) downloading it.

    Attributes
    ----------
    label : str
        The hub id pinned to the commit its revision resolved to, ``hf://OWNER/NAME@<sha>``.
    filename : str
        ``model.safetensors`` or ``pytorch_model.bin``.
    size : int or None
        Bytes, when the hub says.
    cached : bool
        Whether the file is already in the cache (a fetch then needs no network).
    """

    label: str
    filename: str
    size: int | None
    cached: bool


def _progress_bar(report: ProgressFn) -> Any:
    """A stand-in for ``tqdm`` that ``hf_hub_download`` drives: each update goes to ``report``."""

    class Bar:
        def __init__(self, *, total: int | None = None, initial: int = 0, **_: Any):
            self.n, self.total = initial, total
            report(self.n, self.total)

        def update(self, n: int = 1) -> None:
            self.n += n
            report(self.n, self.total)

        def close(self) -> None:
            pass

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    return Bar


@contextlib.contextmanager
def _hub_errors(ref: HubId) -> Iterator[None]:
    """``huggingface_hub``'s errors as a :class:`PretrainedWeightsError` that says what to do."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except PretrainedWeightsError:
        raise
    except LocalEntryNotFoundError:
        # HF_HUB_OFFLINE=1, no network, or the hub unreachable, and the files not in the cache
        raise PretrainedWeightsError(
            f"{ref} could not be fetched (offline?): {ref.download_hint()}"
        ) from None
    except GatedRepoError:
        raise PretrainedWeightsError(
            f"{ref} is gated: accept its terms on the hub and log in (`hf auth login`)"
        ) from None
    except RepositoryNotFoundError:
        raise PretrainedWeightsError(
            f"{ref}: no such repository on the hub (a private one needs `hf auth login`)"
        ) from None
    except RevisionNotFoundError:
        raise PretrainedWeightsError(f"{ref}: no revision {ref.revision!r} in {ref.repo_id}") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise PretrainedWeightsError(f"{ref} could not be fetched: the hub answered HTTP {status}") from None
    except Exception as exc:  # a consistency (size) check, a connection cut mid-file, a full disk
        log.info("fetching %s failed: %s", ref, exc)
        raise PretrainedWeightsError(
            f"{ref}: the download did not complete ({type(exc).__name__}); try again, or "
            f"{ref.download_hint()}"
        ) from None


def _hub_ref(hub_id: HubId | str) -> HubId:
    ref = HubId.parse(hub_id) if isinstance(hub_id, str) else hub_id
    if ref is None:
        raise PretrainedWeightsError("not a hub id (hf://OWNER/NAME[@REVISION])")
    return ref


def _first_weights(ref: HubId, get: Callable[[str], Any]) -> Any:
    """``get(name)`` of the first of :data:`SNAPSHOT_WEIGHTS` the repository has."""
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    for name in SNAPSHOT_WEIGHTS:
        try:
            return get(name)
        except LocalEntryNotFoundError:
            raise
        except EntryNotFoundError:
            continue
    raise PretrainedWeightsError(
        f"{ref} has no weights file ({' or '.join(SNAPSHOT_WEIGHTS)}): not a braindecode snapshot"
    )


def _hub_options(
    cache_dir: str | os.PathLike[str] | None, endpoint: str | None, env: Mapping[str, str] | None
) -> dict[str, Any]:
    """``hf_hub_download``'s cache, endpoint and offline flag as ``env`` (default: this process's
    environment now) says.

    ``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HUB_CACHE``/``HF_HOME`` and ``HF_HUB_OFFLINE``
    once, when imported; a run's worker is forked from a process that imported it and applies the
    run's environment afterwards, and the data worker's processes are handed the server's
    (:func:`~..config.env.hub_environment`), so they are read here, at each call.
    """
    env = os.environ if env is None else env
    if cache_dir is None:
        cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
        if not cache and env.get("HF_HOME"):
            cache = os.path.join(env["HF_HOME"], "hub")
        cache_dir = os.path.expanduser(cache) if cache else None
    offline = env.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    return {
        "cache_dir": None if cache_dir is None else Path(cache_dir),
        "endpoint": endpoint or env.get("HF_ENDPOINT") or None,
        "local_files_only": offline,
    }


def resolve(
    hub_id: HubId | str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
) -> HubWeights:
    """Ask the hub which weights file ``hub_id`` names and at which commit, without downloading it
    (``hf_hub_download(dry_run=True)``: one ``HEAD`` request; none for a commit already cached).

    Raises
    ------
    PretrainedWeightsError
        As :func:`fetch`: offline and not cached, no such repository or revision, no weights file.
    """
    from huggingface_hub import hf_hub_download

    ref = _hub_ref(hub_id)

    def dry(filename: str) -> Any:
        return hf_hub_download(
            ref.repo_id,
            filename,
            revision=ref.revision,
            dry_run=True,
            **_hub_options(cache_dir, endpoint, env),
        )

    with _hub_errors(ref):
        info = _first_weights(ref, dry)
    return HubWeights(
        str(HubId(ref.repo_id, info.commit_hash)), info.filename, info.file_size, info.is_cached
    )


def fetch(
    hub_id: HubId | str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    progress: ProgressFn | None = None,
    env: Mapping[str, str] | None = None,
) -> WeightsSource:
    """Download a hub snapshot's weights (``model.safetensors``, else ``pytorch_model.bin``) and
    its ``config.json`` into the ``huggingface_hub`` cache; a cached commit needs no network.

    Parameters
    ----------
    hub_id : HubId or str
        ``hf://OWNER/NAME[@REVISION]``.
    cache_dir : path, optional
        The hub cache (default: ``huggingface_hub``'s, ``HF_HUB_CACHE``).
    endpoint : str, optional
        The hub's URL (default: ``huggingface_hub``'s, ``HF_ENDPOINT``).
    progress : callable, optional
        ``progress(done, total)`` as the weights file downloads (never called for a cached file).
    env : mapping, optional
        The ``HF_*`` settings to use (default: this process's environment now).

    Returns
    -------
    WeightsSource
        Labelled with the commit the revision resolved to (``hf://OWNER/NAME@<sha>``).

    Raises
    ------
    PretrainedWeightsError
        Offline or unreachable (with the command that fetches it elsewhere), no such repository or
        revision, no weights file in it, or a download that ended short.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    ref = _hub_ref(hub_id)

    def download(filename: str, report: ProgressFn | None = None) -> Path:
        return Path(
            hf_hub_download(
                ref.repo_id,
                filename,
                revision=ref.revision,
                tqdm_class=None if report is None else _progress_bar(report),
                **_hub_options(cache_dir, endpoint, env),
            )
        )

    with _hub_errors(ref):
        path: Path = _first_weights(ref, lambda name: download(name, progress))
        with contextlib.suppress(EntryNotFoundError):
            download("config.json")  # the snapshot's architecture, kept beside its weights
    commit = path.parent.name  # the cache keeps each commit's files in snapshots/<sha>/
    return WeightsSource(path, str(HubId(ref.repo_id, commit)), _format(path))


def locate(
    value: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
) -> WeightsSource:
    """The weights file ``value`` names: a hub id is fetched (:func:`fetch`), a snapshot folder
    gives its preferred weights file, a file is itself.

    Raises
    ------
    PretrainedWeightsError
        Nothing there, a folder without weights, or a failed fetch. Messages name the file by its
        name (never the server's absolute path).
    """
    text = os.fspath(value)
    ref = HubId.parse(text)
    if ref is not None:
        return fetch(ref, cache_dir=cache_dir, endpoint=endpoint, env=env)
    path = Path(text)
    if path.is_dir():
        for name in SNAPSHOT_WEIGHTS:
            if (path / name).is_file():
                return WeightsSource(path / name, text, _format(path / name))
        raise PretrainedWeightsError(
            f"folder {path.name!r} is not a Hugging Face snapshot: it has no {' or '.join(SNAPSHOT_WEIGHTS)}"
        )
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained_weights file not found: {path.name}")
    return WeightsSource(path, text, _format(path))


def read_weights(source: WeightsSource) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, keys without wrapper prefixes (``module.``, ``model.``, ...).

    Safetensors files are read with ``safetensors``; others with ``torch.load(weights_only=True)``,
    so no code in the file runs.

    Raises
    ------
    PretrainedWeightsError
        A file that needs pickled code, a damaged or truncated file, or one without tensors.
    """
    name = source.path.name
    state: Any
    if source.format == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(source.path, device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            log.info("cannot read %s: %s", source.path, exc)
            raise PretrainedWeightsError(f"{name} is not a readable safetensors file (truncated?)") from None
    else:
        import pickle

        try:
            state = torch.load(source.path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            log.info("refused %s: %s", source.path, exc)
            raise PretrainedWeightsError(
                f"{name} holds pickled Python objects that would run code to load; refused "
                "(save the model's state_dict, or use safetensors)"
            ) from None
        except Exception as exc:  # zip or format errors
            log.info("cannot read %s: %s", source.path, exc)
            raise PretrainedWeightsError(f"not a PyTorch state_dict: {name}") from None
    for key in _WRAPPERS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not any(torch.is_tensor(v) for v in state.values()):
        raise PretrainedWeightsError(f"not a PyTorch state_dict: {name}")
    return {_strip_prefixes(str(k)): v for k, v in state.items() if torch.is_tensor(v)}


def _strip_prefixes(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


@dataclass
class LoadReport:
    """How a weights file matched a model: backbone and head counted apart.

    Attributes
    ----------
    source : str
        The weights (a hub id pinned to its commit, or the path as given).
    format : str
        ``safetensors`` or ``torch``.
    backbone_keys : int
        Tensors in the model's backbone.
    matched : int
        Backbone tensors loaded from the file (``adapted`` ones included).
    adapted : list of str
        Backbone tensors loaded in part: an embedding the file has for longer windows (LaBraM's
        temporal embedding) or more channels (BIOT's channel tokens), cut to this model's (the
        model only ever reads its leading rows).
    missing : list of str
        Backbone tensors the file lacks (they keep their seeded initial values).
    unexpected : list of str
        File tensors the model has no place for.
    shape_mismatched : list of str
        ``name: file shape vs model shape`` for backbone tensors of another shape.
    head_keys : int
        Tensors in the model's head (never loaded: the head is new for this data's classes).
    n_outputs : int
        Classes the new head predicts.
    """

    source: str
    format: str
    backbone_keys: int
    matched: int
    adapted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatched: list[str] = field(default_factory=list)
    head_keys: int = 0
    n_outputs: int = 0

    @property
    def summary(self) -> str:
        """One line, e.g. ``pretrained: 198/200 backbone keys from hf://o/n@<sha> (head new: 2 classes)``."""
        notes = [f"head new: {self.n_outputs} classes"]
        if self.adapted:
            notes.append(f"{len(self.adapted)} cut to this model's window length or channels")
        if self.unexpected:
            notes.append(f"{len(self.unexpected)} unused")
        return (
            f"pretrained: {self.matched}/{self.backbone_keys} backbone keys from {self.source} "
            f"({'; '.join(notes)})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(n) for n in t.shape) + ")"


def _cut(given: torch.Tensor, own: torch.Tensor, dim: int = 1) -> torch.Tensor | None:
    """``given`` cut along ``dim`` to ``own``'s shape when only that dimension is longer."""
    if given.dim() != own.dim() or given.dim() <= dim or given.shape[dim] < own.shape[dim]:
        return None
    if given.shape[:dim] != own.shape[:dim] or given.shape[dim + 1 :] != own.shape[dim + 1 :]:
        return None
    return given.narrow(dim, 0, own.shape[dim]).clone()


def match_weights(
    own: Mapping[str, torch.Tensor],
    given: Mapping[str, torch.Tensor],
    *,
    is_head: Callable[[str], bool],
    source: str,
    format: str,
    n_outputs: int,
    cut_to_fit: Collection[str] | Mapping[str, int] = (),
    derived: Collection[str] = (),
    model_label: str = "the backbone",
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """The backbone tensors of ``given`` that ``own`` can load, and the report of the match.

    Parameters
    ----------
    own : mapping
        The model's ``state_dict``.
    given : mapping
        The file's tensors (:func:`read_weights`).
    is_head : callable
        Whether a key belongs to the head (never loaded; counted apart).
    source, format : str
        For the report.
    n_outputs : int
        Classes of the new head.
    cut_to_fit : collection of str, or mapping of str to int
        Keys the model reads only the leading rows of (along dim 1, or the dimension mapped to):
        a longer tensor in the file is cut to fit and counted as matched (``adapted``).
    derived : collection of str
        Keys the model computes itself (e.g. channel ids from its channel names): never loaded,
        not counted in the backbone.
    model_label : str
        How refusals name the model, e.g. ``"LaBraM's backbone"``.

    Raises
    ------
    PretrainedWeightsError
        A backbone tensor of another shape (the first few listed), or fewer than
        :data:`MIN_MATCHED` of the backbone's tensors matched.
    """
    cut_dims = dict(cut_to_fit) if isinstance(cut_to_fit, Mapping) else dict.fromkeys(cut_to_fit, 1)
    backbone = [k for k in own if not is_head(k) and k not in derived]
    usable: dict[str, torch.Tensor] = {}
    adapted, mismatched, unexpected = [], [], []
    for key, value in given.items():
        if key not in own:
            unexpected.append(key)
        elif is_head(key) or key in derived:
            continue
        elif own[key].shape == value.shape:
            usable[key] = value
        elif key in cut_dims and (cut := _cut(value, own[key], cut_dims[key])) is not None:
            usable[key] = cut
            adapted.append(key)
        else:
            mismatched.append(f"{key}: file {_shape(value)} vs model {_shape(own[key])}")
    report = LoadReport(
        source=source,
        format=format,
        backbone_keys=len(backbone),
        matched=len(usable),
        adapted=sorted(adapted),
        missing=sorted(k for k in backbone if k not in usable and k not in given),
        unexpected=sorted(unexpected),
        shape_mismatched=mismatched,
        head_keys=sum(1 for k in own if is_head(k)),
        n_outputs=n_outputs,
    )
    # refusals name a local file or folder by its name: no server paths in error messages
    shown = source if source.startswith(HUB_PREFIX) else repr(Path(source).name)
    if mismatched:
        raise PretrainedWeightsError(
            f"{shown} does not fit {model_label}: {len(mismatched)} tensors have another shape "
            f"({'; '.join(mismatched[:3])}{'; ...' if len(mismatched) > 3 else ''})"
        )
    if report.matched < MIN_MATCHED * len(backbone):
        first = ", ".join(report.missing[:3]) + (", ..." if len(report.missing) > 3 else "")
        raise PretrainedWeightsError(
            f"{shown} matches only {report.matched} of the {len(backbone)} tensors of {model_label} "
            f"(at least {MIN_MATCHED:.0%} needed); missing e.g. {first}"
        )
    return usable, report
