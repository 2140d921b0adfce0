"""``eegtrain`` command line: train with a progress bar, print or validate configs.

Flags for ``train`` are generated from the config schema, so they never drift from it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .._version import __version__
from ..config.third_party import quiet_third_party_warnings
from ..config.training import PRESETS, field_specs, parse_config
from ..errors import ConfigError, EegtrainError
from ..schemas import Status
from ..service.manager import TrainingListener, TrainingManager

__all__ = ["build_parser", "main"]

_TYPES: dict[str, Callable[[str], Any]] = {
    "integer": int,
    "number": float,
    "string": str,
    "object": json.loads,
    "array": lambda text: [part.strip() for part in text.split(",") if part.strip()],  # a,b,c
}


class TqdmListener(TrainingListener):
    """Epoch bar with metrics in its postfix, and a transient bar per epoch for batches."""

    def __init__(self, n_epochs: int, file=None):
        self.file = file or sys.stderr
        self.epochs = tqdm(total=n_epochs, desc="epochs", unit="epoch", file=self.file)
        self.batches: tqdm | None = None
        self._key: tuple | None = None

    def on_phase(self, phase: str) -> None:
        self.epochs.set_description_str(phase)

    def on_batch(
        self, *, epoch: int, batch: int, n_batches: int, phase: str, **running: float | None
    ) -> None:
        key = (epoch, phase)
        if key != self._key:
            self._close_batches()
            label = phase if phase == "caching features" else f"epoch {epoch} {phase}"
            self.batches = tqdm(total=n_batches, desc=label, unit="batch", leave=False, file=self.file)
            self._key = key
        assert self.batches is not None
        self.batches.update(batch - self.batches.n)

    def on_epoch_end(self, result, history) -> None:
        self._close_batches()
        self.epochs.set_description_str("training")
        self.epochs.set_postfix(
            train_loss=f"{result.train_loss:.4f}",
            val_loss=f"{result.val_loss:.4f}",
            train_acc=f"{result.train_acc:.1f}%",
            val_acc=f"{result.val_acc:.1f}%",
        )
        self.epochs.update(1)

    def _close_batches(self) -> None:
        if self.batches is not None:
            self.batches.close()
            self.batches, self._key = None, None

    def close(self) -> None:
        self._close_batches()
        self.epochs.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eegtrain", description="Train a LaBraM EEG classifier (relaxed vs anxious)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train", help="run one training in the foreground", argument_default=argparse.SUPPRESS
    )
    train.add_argument("--config", type=Path, help="JSON file with a (partial) config; flags override it")
    train.add_argument("--preset", choices=sorted(PRESETS), help="start from a named preset")
    for name, spec in field_specs().items():
        flag = "--" + name.replace("_", "-")
        bounds = ""
        if spec["minimum"] is not None:
            bounds = f" [{spec['minimum']}–{spec['maximum']}]"
        help_ = f"{spec['description']}{bounds} (default: {spec['default']})"
        if spec["type"] == "boolean":
            train.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, help=help_)
        else:
            choices = spec["choices"]
            if spec["type"] == "array":  # names, comma-separated; the config names a wrong one
                help_, choices = f"{help_}; comma-separated, of: {', '.join(choices)}", None
            train.add_argument(flag, dest=name, type=_TYPES[spec["type"]], choices=choices, help=help_)

    join = sub.add_parser("worker", help="join a multi-node run from another machine (runs torchrun)")
    for name in ("devices", "nnodes", "node_rank", "rdzv_endpoint"):
        spec = field_specs()[name]
        join.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=_TYPES[spec["type"]],
            required=name in ("nnodes", "node_rank", "rdzv_endpoint"),
            help=spec["description"],
            default=argparse.SUPPRESS,
        )
    join.add_argument("--print", action="store_true", help="print the torchrun command instead of running it")

    sub.add_parser("config", help="print the default config as JSON")
    sub.add_parser("schema", help="print the config's JSON Schema (ranges, defaults, presets)")
    validate = sub.add_parser("validate", help="check a JSON config file; exit 1 when invalid")
    validate.add_argument("file", type=Path)

    search = sub.add_parser("search", help="hyper-parameter search with Optuna (trials one after another)")
    search.add_argument(
        "--space",
        type=Path,
        required=True,
        help='JSON file: {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": true}, '
        '"model": {"choices": ["labram", "eegnet"]}, ...}',
    )
    search.add_argument(
        "--config", type=Path, help="JSON file with the (partial) config every trial starts from"
    )
    search.add_argument("--n-trials", type=int, default=20, help="trials to run (default: 20)")
    search.add_argument("--timeout-s", type=float, help="start no trial after this many seconds")
    search.add_argument("--metric", choices=["val_acc", "val_loss"], default="val_acc")
    search.add_argument("--pruner", choices=["median", "none"], default="median")
    search.add_argument("--seed", type=int, help="sampler seed (default: the config's seed)")
    bench = sub.add_parser(
        "benchmark",
        help="benchmark models on every fold of an evaluation protocol (table, statistics, figure)",
    )
    bench.add_argument(
        "--models",
        help="comma-separated model names, e.g. csp_lda,tangent_space_lr,eegnet (or set models in --request)",
    )
    bench.add_argument(
        "--config", type=Path, help="JSON file with the (partial) config every model starts from"
    )
    bench.add_argument(
        "--protocol",
        choices=["holdout", "cross_subject", "within_subject", "cross_session"],
        help="evaluation protocol (default: the config's, else holdout)",
    )
    bench.add_argument("--n-folds", type=int, help="folds of cross_subject / within_subject")
    bench.add_argument("--n-repeats", type=int, help="repetitions of every fold, repeat r with seed + r")
    bench.add_argument(
        "--request", type=Path, help='JSON file with a whole request: {"config": {...}, "models": [...]}'
    )
    bench.add_argument("--resume", metavar="ID", help="resume a stopped or interrupted benchmark")
    from . import runs as cli_runs  # predict, evaluate, export, runs, show

    cli_runs.add_parsers(sub)
    return parser


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise SystemExit(f"eegtrain: cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"eegtrain: {path} is not valid JSON: {exc}") from None


def _print_errors(errors) -> None:
    for err in errors:
        print(f"  {err.field}: {err.message}", file=sys.stderr)


def _train(args: argparse.Namespace) -> int:
    options = vars(args)
    options.pop("command")
    data: dict[str, Any] = {}
    if "config" in options:
        data = _load_json(options.pop("config"))
        if not isinstance(data, dict):
            raise SystemExit("eegtrain: the --config file must hold a JSON object")
    preset = options.pop("preset", None)
    data.update(options)
    try:
        config = parse_config(data, preset=preset)
    except ConfigError as exc:
        print("eegtrain: invalid config:", file=sys.stderr)
        _print_errors(exc.errors)
        return 2

    # Ctrl-C and SIGTERM stop gracefully, even when started from a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    bar = TqdmListener(config.n_epochs)
    manager = TrainingManager(".", listeners=[bar], thread_settings=None)
    try:
        manager.start(config)
    except EegtrainError as exc:
        bar.close()
        print(f"eegtrain: {exc}", file=sys.stderr)
        return 2
    try:
        manager.wait()
    except KeyboardInterrupt:
        bar.epochs.write("stopping after the current batch (Ctrl-C again to abort)...", file=bar.file)
        manager.stop()
        manager.wait()
    finally:
        bar.close()
    status = manager.status()
    _summary(status)
    return {"completed": 0, "stopped": 130}.get(status.state.value, 1)


def _summary(status: Status) -> None:
    print(
        f"\nrun {status.run_id}: {status.state.value} after {status.current_epoch}/{status.total_epochs} "
        f"epochs in {status.elapsed_time_formatted} on {status.device}"
    )
    if status.backbone:
        print(f"backbone: {status.backbone.message}")
    if status.precision_reason:
        print(f"precision: {status.precision_reason}")
    if status.error:
        print(f"error: {status.error}")
    if status.best_val_acc is not None:
        print(
            f"best validation accuracy: {status.best_val_acc:.1f}% at epoch {status.best_epoch}  "
            f"(last: train {status.train_acc:.1f}%, val {status.val_acc:.1f}%)"
        )
        where = (
            f"published to {status.save_dir}"
            if status.published
            else f"top-level files in {status.save_dir} left as they were (only a completed run replaces them)"
        )
        print(f"outputs in {status.run_dir}; {where}")
    if status.split:
        print(
            f"split: {status.split}"
            + ("; stopped early (no better validation score)" if status.early_stopped else "")
        )
    if status.test_report:
        r = status.test_report
        auc = f", ROC AUC {r.roc_auc:.1f}%" if r.roc_auc is not None else ""
        kappa = f", Cohen's kappa {r.cohen_kappa:.2f}" if r.cohen_kappa is not None else ""
        print(
            f"test split ({r.n} windows, epoch {r.epoch} weights): balanced accuracy "
            f"{r.balanced_accuracy:.1f}%{kappa}, accuracy {r.accuracy:.1f}%, macro F1 {r.macro_f1:.1f}%{auc}"
        )
        print(f"confusion matrix (rows true {', '.join(r.class_names)}): {r.confusion_matrix}")


def _search(args: argparse.Namespace) -> int:
    from ..service.search import SearchManager

    body: dict[str, Any] = {
        "space": _load_json(args.space),
        "n_trials": args.n_trials,
        "metric": args.metric,
        "pruner": args.pruner,
        "timeout_s": args.timeout_s,
        "seed": args.seed,
    }
    if args.config is not None:
        body["config"] = _load_json(args.config)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    manager = TrainingManager(".", thread_settings=None)
    search = SearchManager(manager)
    try:
        status = search.start(body)
    except ConfigError as exc:
        print("eegtrain: invalid search:", file=sys.stderr)
        _print_errors(exc.errors)
        return 2
    except EegtrainError as exc:
        print(f"eegtrain: {exc}", file=sys.stderr)
        return 2
    print(f"search {status.search_id}: {args.n_trials} trials; optuna-dashboard {status.storage}")
    shown = 0
    try:
        while not search.wait(1.0):
            shown = _print_trials(search.status().trials, shown)
    except KeyboardInterrupt:
        print("stopping the search (the running trial stops within a batch)...", file=sys.stderr)
        search.stop()
        search.wait()
    status = search.status()
    _print_trials(status.trials, shown)
    print(f"search {status.search_id}: {status.state.value}" + (f" ({status.error})" if status.error else ""))
    if status.best is not None:
        print(
            f"best: trial {status.best.number}, {args.metric} {status.best.value:.4g} (validation split), "
            f"run {status.best.run_id}"
        )
        print(json.dumps(status.best.config.model_dump(), indent=2))
    return {"completed": 0, "stopped": 130}.get(status.state.value, 1)


def _benchmark_body(args: argparse.Namespace) -> dict[str, Any]:
    if args.resume is not None:
        return {"resume": args.resume}
    body: dict[str, Any] = _load_json(args.request) if args.request is not None else {}
    if not isinstance(body, dict):
        raise SystemExit("eegtrain: the --request file must hold a JSON object")
    config = dict(body.get("config") or {})
    if args.config is not None:
        config.update(_load_json(args.config))
    evaluation = dict(config.get("evaluation") or {})
    for key in ("protocol", "n_folds", "n_repeats"):
        if getattr(args, key) is not None:
            evaluation[key] = getattr(args, key)
    if evaluation:
        config["evaluation"] = evaluation
    body["config"] = config
    if args.models:
        body["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    return body


def _benchmark(args: argparse.Namespace) -> int:
    from ..service.benchmark import BenchmarkManager

    body = _benchmark_body(args)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    manager = TrainingManager(".", thread_settings=None)
    bench = BenchmarkManager(manager)
    try:
        status = bench.start(body)
    except ConfigError as exc:
        print("eegtrain: invalid benchmark:", file=sys.stderr)
        _print_errors(exc.errors)
        return 2
    except EegtrainError as exc:
        print(f"eegtrain: {exc}", file=sys.stderr)
        return 2
    print(
        f"benchmark {status.benchmark_id}: {status.protocol}, {status.n_folds} fold(s), "
        f"{status.n_runs} runs; outputs in {status.folder}"
    )
    shown = 0
    try:
        while not bench.wait(1.0):
            shown = _print_results(bench.status().results, shown)
    except KeyboardInterrupt:
        print("stopping the benchmark (the running fold stops within a batch)...", file=sys.stderr)
        bench.stop()
        bench.wait()
    finally:
        manager.shutdown()
    status = bench.status()
    _print_results(status.results, shown)
    print(
        f"benchmark {status.benchmark_id}: {status.state.value}"
        + (f" ({status.error})" if status.error else "")
    )
    if status.summary is not None:
        print()
        print(Path(status.summary.files["markdown"]).read_text())
        print(f"files: {', '.join(status.summary.files.values())}")
    if status.state.value != "completed":
        print(f"resume with: eegtrain benchmark --resume {status.benchmark_id}")
    return {"completed": 0, "stopped": 130}.get(status.state.value, 1)


def _print_results(results: list[Any], shown: int) -> int:
    done = [r for r in results if r.state != "running"]
    for r in done[shown:]:
        score = (
            f"balanced accuracy {r.balanced_accuracy:.1f}%"
            if r.balanced_accuracy is not None
            else r.error or ""
        )
        print(f"  {r.label} fold {r.fold} repeat {r.repeat}: {r.state:<9} {score}")
    return max(shown, len(done))


def _print_trials(trials: list[Any], shown: int) -> int:
    done = [t for t in trials if t.state != "running"]
    for t in done[shown:]:
        value = f"{t.value:.4g}" if t.value is not None else "-"
        print(f"  trial {t.number}: {t.state:<9} value {value:<8} {json.dumps(t.params)}")
    return max(shown, len(done))


def main(argv: list[str] | None = None) -> int:
    quiet_third_party_warnings(os.environ)  # here and in the worker processes it starts
    args = build_parser().parse_args(argv)
    if args.command == "config":
        print(json.dumps(parse_config().model_dump(), indent=2))
        return 0
    if args.command == "schema":
        from ..config.training import json_schema

        print(json.dumps(json_schema(), indent=2))
        return 0
    if args.command == "validate":
        # the manager's validate also reads a files/epochs data source and summarises it
        body = TrainingManager(".").validate(_load_json(args.file))
        if body.valid:
            print(f"{args.file}: valid")
            if body.data_summary is not None:
                print(body.data_summary.model_dump_json(indent=2, exclude={"files"}))
            return 0
        print(f"{args.file}: invalid", file=sys.stderr)
        _print_errors(body.errors)
        return 1
    if args.command == "worker":
        return _join(args)
    if args.command == "benchmark":
        return _benchmark(args)
    if args.command == "search":
        return _search(args)
    from . import runs as cli_runs

    if args.command in cli_runs.COMMANDS:
        return cli_runs.run(args)
    return _train(args)


def _join(args: argparse.Namespace) -> int:
    """``eegtrain worker``: this machine's part of a run whose server is on node 0."""
    import os
    import subprocess

    from ..runtime.launcher import BACKEND_ENV, processes_per_node, torchrun_command

    options = {k: v for k, v in vars(args).items() if k not in ("command", "print")}
    try:
        config = parse_config(options)
    except ConfigError as exc:
        print("eegtrain worker: invalid options:", file=sys.stderr)
        _print_errors(exc.errors)
        return 2
    cmd = torchrun_command(config)
    if args.print:
        print(" ".join(cmd))
        return 0
    env = {**os.environ, BACKEND_ENV: processes_per_node(config.devices)[1]}
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main())
