"""Export a trained model for serving, and check the export against torch.

Two formats, both with a dynamic batch axis, both taking windows ``(batch, n_chans, n_times)`` in
µV and returning class probabilities ``(batch, n_classes)`` (softmax included):

* ``onnx``: ``model.onnx`` through torch's exporter (``torch.onnx.export(..., dynamo=True)``;
  needs the ``export`` extra: onnx, onnxscript, onnxruntime), one self-contained file, checked
  with **ONNX Runtime** (CPU).
* ``torch_export``: ``model.pt2`` (``torch.export``; load with ``torch.export.load(path).module()``).
  TorchScript is not offered: ``torch.jit.trace`` probes every attribute of the module and
  braindecode's ``chs_info`` property raises while it does.

Each export is verified on 64 seeded random windows (and on a batch of 1, for the dynamic axis):
the largest absolute difference of any class probability from the torch model's must be at most
``1e-4``. The result is written beside the export as ``<file>.parity.json``
(:class:`~eegtrain_jupyter.schemas.Parity`). TensorRT: build an engine from the ONNX file with
``trtexec`` on a GPU machine (docs/export.md; not tested here).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import files
from ..errors import ConfigError, soft_import
from ..schemas import ExportResult, Parity
from .predict import TrainedModel

__all__ = ["FORMATS", "N_PARITY_WINDOWS", "TOLERANCE", "export_model", "parity_windows", "probability_module"]

FORMATS = {"onnx": "model.onnx", "torch_export": "model.pt2"}
"""Export formats and the file each writes in the output folder."""
TOLERANCE = 1e-4
"""Largest accepted |Δ probability| between an export and the torch model."""
N_PARITY_WINDOWS = 64


def probability_module(model: TrainedModel) -> Any:
    """The exported module: ``model``'s classifier followed by a softmax over classes."""
    import torch

    assert model.module is not None, "a classical baseline has no torch module"

    class Probabilities(torch.nn.Module):
        def __init__(self, module: torch.nn.Module):
            super().__init__()
            self.classifier = module

        def forward(self, windows: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.classifier(windows), dim=1)

    return Probabilities(model.module).eval()


def parity_windows(model: TrainedModel, n: int = N_PARITY_WINDOWS, seed: int = 0) -> np.ndarray:
    """``n`` seeded random windows shaped for ``model``: 1/f-like noise around 20 µV, float32."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((n, len(model.ch_names), model.n_times))
    return (np.cumsum(white, axis=-1) * 0.5 + white * 20).astype(np.float32)


def _exported_program(module: Any, example: Any) -> Any:
    import torch

    batch = torch.export.Dim("batch", min=1, max=65536)
    return torch.export.export(module, (example,), dynamic_shapes={"windows": {0: batch}}, strict=False)


def _export_onnx(module: Any, example: Any, path: Path) -> Any:
    for name in ("onnx", "onnxscript", "onnxruntime"):  # checked before minutes of export work
        soft_import(name, "ONNX export", "export")
    import torch

    program = torch.onnx.export(
        _exported_program(module, example),
        f=None,
        input_names=["windows"],
        output_names=["probabilities"],
        dynamo=True,
        verbose=False,
    )
    assert program is not None  # f=None: the program is returned, not written
    with files.atomic_path(path) as tmp:
        program.save(tmp, external_data=False)

    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"windows": x})[0]


def _export_torch(module: Any, example: Any, path: Path) -> Any:
    import torch

    program = _exported_program(module, example)
    with files.atomic_path(path) as tmp:
        torch.export.save(program, tmp)
    loaded = torch.export.load(str(path)).module()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return loaded(torch.from_numpy(x)).numpy()

    return run


def export_model(
    model: TrainedModel, fmt: str, out_dir: str | os.PathLike | None = None, run_id: str | None = None
) -> ExportResult:
    """Export ``model`` as ``fmt`` into ``out_dir`` (default: the checkpoint's folder) and check parity.

    Parameters
    ----------
    model : TrainedModel
    fmt : {"onnx", "torch_export"}
    out_dir : path, optional
    run_id : str, optional
        Recorded in the result.

    Returns
    -------
    ExportResult
        The file, its size, the seconds the export took and the :class:`~.schemas.Parity` report
        (also written to ``<file>.parity.json``). ``parity.passed`` is false when the export
        disagrees with torch by more than :data:`TOLERANCE`; the file is kept for inspection.
    """
    import torch

    if fmt not in FORMATS:
        raise ConfigError.field("format", f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if model.module is None:
        name = model.checkpoint.get("model")
        raise ConfigError.field(
            "format",
            f"{fmt} export is for the neural models; {name} is a classical scikit-learn baseline: "
            "use it through predict (or eegtrain_jupyter.load_model) instead",
        )
    folder = Path(out_dir) if out_dir is not None else Path(model.path or ".").parent
    path = folder / FORMATS[fmt]
    module = probability_module(model)
    X = parity_windows(model)
    started = time.perf_counter()
    with torch.inference_mode(False), torch.no_grad():
        run = (_export_onnx if fmt == "onnx" else _export_torch)(module, torch.from_numpy(X[:2]), path)
        seconds = time.perf_counter() - started
        reference = module(torch.from_numpy(X)).numpy()
    got = np.concatenate([run(X[:1]), run(X)[1:]])  # batch 1 and batch 64: the batch axis is dynamic
    diff = float(np.abs(got - reference).max())
    runtime = (
        "onnxruntime " + _version("onnxruntime") if fmt == "onnx" else "torch.export " + torch.__version__
    )
    parity = Parity(
        runtime=runtime,
        reference=f"torch {torch.__version__} eager (CPU, fp32)",
        n_windows=len(X),
        batch_sizes=[1, len(X)],
        max_abs_diff=diff,
        tolerance=TOLERANCE,
        passed=diff <= TOLERANCE,
        same_labels=bool((got.argmax(1) == reference.argmax(1)).all()),
    )
    parity_path = files.write_json(path.with_name(path.name + ".parity.json"), parity.to_json())
    return ExportResult(
        run_id=run_id,
        format=fmt,
        path=str(path),
        size_bytes=path.stat().st_size,
        seconds=seconds,
        parity=parity,
        parity_path=str(parity_path),
    )


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)
