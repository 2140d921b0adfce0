"""``eegtrain`` commands that use recorded runs: ``predict``, ``evaluate``, ``export``, ``runs`` and ``show``.

MODEL is a checkpoint file, a folder holding one (a run folder or a ``save_dir``) or a run id
recorded under ``--root`` (default: the working directory), as :func:`~eegtrain_jupyter.load_model` takes.
Errors are one line on stderr and exit code 2; an export that fails its parity check exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = ("predict", "evaluate", "export", "runs", "show")


def add_parsers(sub: Any) -> None:
    """Add this module's sub-commands to ``eegtrain``'s sub-parsers."""
    predict = sub.add_parser("predict", help="predict every window of one or more recordings")
    predict.add_argument("model", help="checkpoint file, folder with one, or run id")
    predict.add_argument(
        "recordings",
        nargs="+",
        type=Path,
        help="MNE-readable recordings (.fif, .edf, ...), epochs (*-epo.fif) or .npy windows (µV)",
    )
    predict.add_argument("--out", type=Path, help="write the CSV here (default: standard output)")
    predict.add_argument(
        "--step-s",
        type=float,
        help="seconds between window starts of a continuous recording (default: one window, no overlap)",
    )
    evaluate = sub.add_parser(
        "evaluate",
        help="score a model on labelled recordings, labelled and preprocessed as in training; "
        "prints the test report as JSON",
    )
    evaluate.add_argument("model", help="checkpoint file, folder with one, or run id")
    evaluate.add_argument("files", nargs="+", help="recordings or globs (relative to --root)")
    evaluate.add_argument(
        "--labels", type=_json_object, help="annotation name -> class name as JSON (default: the run's)"
    )
    evaluate.add_argument(
        "--subject-pattern", help="regex on the file name for the subject (default: the run's; '' for none)"
    )
    evaluate.add_argument(
        "--channel-map",
        type=_json_object,
        help="recording channel -> model channel as JSON (default: the run's)",
    )
    evaluate.add_argument(
        "--sliding",
        action=argparse.BooleanOptionalAction,
        help="slide windows over each annotation's span (default: as the run did)",
    )
    evaluate.add_argument("--step-s", type=float, help="hop between sliding windows (s)")
    evaluate.add_argument("--out", type=Path, help="write the JSON report here (default: standard output)")
    export = sub.add_parser("export", help="export a model (ONNX or torch.export) and check it against torch")
    export.add_argument("model", help="checkpoint file, folder with one, or run id")
    export.add_argument("--format", choices=("onnx", "torch_export"), default="onnx")
    export.add_argument("--out-dir", type=Path, help="folder for the export (default: beside the checkpoint)")
    sub.add_parser("runs", help="list the recorded runs, newest first")
    show = sub.add_parser("show", help="one run in full (record, metrics, model card, files) as JSON")
    show.add_argument("run_id")
    for parser in (predict, evaluate, export, sub.choices["runs"], show):
        parser.add_argument(
            "--root",
            type=Path,
            default=Path("."),
            help="folder whose runs are searched and where relative paths start (default: .)",
        )


def run(args: argparse.Namespace) -> int:
    """Run the sub-command ``args.command``; errors become one line on stderr (exit 2)."""
    from ..errors import EegtrainError

    try:
        commands = {
            "predict": _predict,
            "evaluate": _evaluate,
            "export": _export,
            "runs": _runs,
            "show": _show,
        }
        return commands[args.command](args)
    except EegtrainError as exc:
        print(f"eegtrain {args.command}: {exc}", file=sys.stderr)
        for err in exc.errors:
            if err.message not in str(exc):
                print(f"  {err.field}: {err.message}", file=sys.stderr)
        return 2


def _predict(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..service.serving import load_model
    from ..serving.predict import read_recording, window_starts

    model = load_model(args.model, args.root)
    classes = model.classes_.tolist()
    rows = []
    for recording in args.recordings:
        path = recording if recording.is_absolute() else args.root / recording
        if not path.is_file():
            raise ConfigError.field("recordings", f"no such file: {recording}")
        data = read_recording(path)
        X = model.windows(data, step_s=args.step_s)
        proba = model.probabilities(X)
        known = window_starts(data, len(X), model, args.step_s)
        starts: list[float | None] = list(known) if known is not None else [None] * len(X)
        for i, (p, start) in enumerate(zip(proba, starts, strict=True)):
            rows.append(
                [
                    str(recording),
                    i,
                    "" if start is None else start,
                    classes[int(p.argmax())],
                    *(f"{v:.6f}" for v in p),
                ]
            )
    header = ["recording", "window", "start_s", "label", *(f"p_{c}" for c in classes)]
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(args.out, "w", newline="")) if args.out else sys.stdout
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    if args.out:
        print(f"{len(rows)} windows from {len(args.recordings)} recording(s) -> {args.out}", file=sys.stderr)
    return 0


def _json_object(text: str) -> dict[str, str]:
    """A command-line JSON object, e.g. ``'{"eyes_closed": "relaxed"}'``."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"a JSON object, not {type(value).__name__}")
    return value


def _evaluate(args: argparse.Namespace) -> int:
    from ..service.serving import load_model

    model = load_model(args.model, args.root)
    overrides = {
        "labels": args.labels,
        "subject_pattern": args.subject_pattern,
        "channel_map": args.channel_map,
        "sliding": args.sliding,
        "step_s": args.step_s,
    }
    result = model.score(args.files, root=args.root, **{k: v for k, v in overrides.items() if v is not None})
    text = json.dumps(result.to_json(), indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)
    kappa = "" if result.cohen_kappa is None else f", Cohen's kappa {result.cohen_kappa:.2f}"
    print(
        f"balanced accuracy {result.balanced_accuracy:.1f}% (accuracy {result.accuracy:.1f}%{kappa}) on "
        f"{result.n} windows of {len(result.files)} recording(s)" + (f" -> {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    if result.seen_in_training:
        print(
            f"note: the run trained on {', '.join(result.seen_in_training)}; their scores are optimistic",
            file=sys.stderr,
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    from ..service.serving import load_model
    from ..serving.export import export_model

    model = load_model(args.model, args.root)
    result = export_model(model, args.format, args.out_dir)
    print(json.dumps(result.to_json(), indent=2))
    p = result.parity
    verdict = "passed" if p.passed else "FAILED"
    print(
        f"parity {verdict}: max |Δ probability| {p.max_abs_diff:.2e} (tolerance {p.tolerance:g}) over "
        f"{p.n_windows} windows, {p.runtime}",
        file=sys.stderr,
    )
    return 0 if p.passed else 1


def _manager(root: Path) -> Any:
    from ..service.manager import TrainingManager

    return TrainingManager(root, thread_settings=None)


def _runs(args: argparse.Namespace) -> int:
    runs = _manager(args.root).runs()
    if not runs:
        print(f"no runs recorded under {args.root.resolve()}")
        return 0
    print(f"{'run_id':<24} {'state':<12} {'epochs':>7} {'best val acc':>13}  started")
    for r in runs:
        acc = "" if r.best_val_acc is None else f"{r.best_val_acc:.1f}% (e{r.best_epoch})"
        print(
            f"{r.run_id:<24} {r.state.value:<12} {r.epochs_completed:>3}/{r.config.n_epochs:<3} {acc:>13}  "
            f"{r.started_at}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    print(json.dumps(_manager(args.root).run(args.run_id).to_json(), indent=2))
    return 0
