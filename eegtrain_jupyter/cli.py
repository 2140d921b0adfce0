"""``eegtrain`` command line: train with a progress bar, print or validate configs.

Flags for ``train`` are generated from the config schema, so they never drift from it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import __version__
from .config import PRESETS, field_specs, parse_config, validate_config
from .errors import ConfigError, EegtrainError
from .events import TrainingListener
from .schemas import Status
from .service import TrainingManager

__all__ = ["main", "build_parser"]

_TYPES = {"integer": int, "number": float, "string": str, "object": json.loads}


class TqdmListener(TrainingListener):
    """Epoch bar with metrics in its postfix, and a transient bar per epoch for batches."""

    def __init__(self, n_epochs: int, file=None):
        self.file = file or sys.stderr
        self.epochs = tqdm(total=n_epochs, desc="epochs", unit="epoch", file=self.file)
        self.batches: tqdm | None = None
        self._key: tuple | None = None

    def on_phase(self, phase: str) -> None:
        self.epochs.set_description_str(phase)

    def on_batch(self, *, epoch: int, batch: int, n_batches: int, phase: str, **running: float | None) -> None:
        key = (epoch, phase)
        if key != self._key:
            self._close_batches()
            label = phase if phase == "caching features" else f"epoch {epoch} {phase}"
            self.batches = tqdm(total=n_batches, desc=label, unit="batch", leave=False, file=self.file)
            self._key = key
        self.batches.update(batch - self.batches.n)

    def on_epoch_end(self, result, history) -> None:
        self._close_batches()
        self.epochs.set_description_str("training")
        self.epochs.set_postfix(
            train_loss=f"{result.train_loss:.4f}", val_loss=f"{result.val_loss:.4f}",
            train_acc=f"{result.train_acc:.1f}%", val_acc=f"{result.val_acc:.1f}%",
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
    parser = argparse.ArgumentParser(prog="eegtrain", description="Train a LaBraM EEG classifier (relaxed vs anxious).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="run one training in the foreground", argument_default=argparse.SUPPRESS)
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
            train.add_argument(flag, dest=name, type=_TYPES[spec["type"]], choices=spec["choices"], help=help_)

    sub.add_parser("config", help="print the default config as JSON")
    sub.add_parser("schema", help="print the config's JSON Schema (ranges, defaults, presets)")
    validate = sub.add_parser("validate", help="check a JSON config file; exit 1 when invalid")
    validate.add_argument("file", type=Path)
    from . import cli_runs  # predict, export, runs, show (issue 12)

    cli_runs.add_parsers(sub)
    return parser


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise SystemExit(f"eegtrain: cannot read {path}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        raise SystemExit(f"eegtrain: {path} is not valid JSON: {exc}")


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
    print(f"\nrun {status.run_id}: {status.state.value} after {status.current_epoch}/{status.total_epochs} "
          f"epochs in {status.elapsed_time_formatted} on {status.device}")
    if status.backbone:
        print(f"backbone: {status.backbone.message}")
    if status.error:
        print(f"error: {status.error}")
    if status.best_val_acc is not None:
        print(f"best validation accuracy: {status.best_val_acc:.1f}% at epoch {status.best_epoch}  "
              f"(last: train {status.train_acc:.1f}%, val {status.val_acc:.1f}%)")
        where = (f"published to {status.save_dir}" if status.published
                 else f"top-level files in {status.save_dir} left as they were (only a completed run replaces them)")
        print(f"outputs in {status.run_dir}; {where}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "config":
        print(json.dumps(parse_config().model_dump(), indent=2))
        return 0
    if args.command == "schema":
        from .config import json_schema

        print(json.dumps(json_schema(), indent=2))
        return 0
    if args.command == "validate":
        result = validate_config(_load_json(args.file))
        if result.valid:
            print(f"{args.file}: valid")
            return 0
        print(f"{args.file}: invalid", file=sys.stderr)
        _print_errors(result.errors)
        return 1
    from . import cli_runs

    if args.command in cli_runs.COMMANDS:
        return cli_runs.run(args)
    return _train(args)


if __name__ == "__main__":
    sys.exit(main())
