"""``python -m bench [--quick]``: every benchmark with its baseline, in one run; a table of ratios.

Candidates and baselines alternate (A, B, A, B, ...) and each side's median is used, so a
machine shared with other work slows both sides alike. The full run writes ``bench/RESULTS.md``;
``--quick`` (CI smoke run) uses tiny sizes, checks no thresholds and writes only with ``--out``.
See ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Row", "format_table", "main", "run_all"]

HERE = Path(__file__).resolve().parent


@dataclass
class Row:
    """One table row; ``ratio`` is what the goal is checked on (``None`` when a row is skipped)."""

    id: int
    measure: str
    candidate: str
    baseline: str
    ratio: float | None
    goal: str
    ok: bool | None = None  # None: not checked (quick mode) or skipped
    note: str = ""
    raw: dict = field(default_factory=dict)


def _sizes(quick: bool) -> dict:
    if quick:
        return {
            "frozen_cfg": {"n_epochs": 2, "device": "cpu"},
            "frozen_n": 16,
            "repeats": 1,
            "ft_repeats": 1,
            "ft_n": 32,
            "ft_bs": 16,
            "warmup": 1,
            "steps": 2,
            "gen_n": 500,
            "gen_reps": 1,
            "srv_n": 20,
            "isolate": False,
            "fresh_n": 16,
            "parity_n": 16,
            "parity_epochs": 1,
            "parity_seeds": 2,
            "parity_fresh_n": 16,
            "proc_repeats": 1,
            "proc_ft_n": 100,
            "recipe_n": 50,
            "recipe_epochs": 1,
            "search": ["--trials", "3", "--n-samples-per-class", "100", "--n-epochs", "2"],
            "light": ["--starts", "1", "--quick"],
            "scanmem": ["--quick"],
            "evaluation": ["--quick"],
        }
    return {
        "frozen_cfg": {"device": "cpu"},
        "frozen_n": None,
        "repeats": 2,
        "ft_repeats": 3,
        "ft_n": 500,
        "ft_bs": 32,
        "warmup": 3,
        "steps": 20,
        "gen_n": 5000,
        "gen_reps": 3,
        "srv_n": 300,
        "isolate": True,
        "fresh_n": 500,
        "parity_n": 300,
        "parity_epochs": 3,
        "parity_seeds": 5,
        "parity_fresh_n": 300,
        "proc_repeats": 3,
        "proc_ft_n": 500,
        "recipe_n": 600,
        "recipe_epochs": 6,
        "search": ["--trials", "20"],  # its defaults: 2x1500 windows, 15 epochs
        "light": ["--starts", "5"],
        "scanmem": [],  # its defaults: 64 channels x 60 min at 256 Hz, 6 labelled 60 s spans
        "evaluation": [],  # its defaults: 2x500 windows of 5 subjects, the default frozen config, 2 repeats
    }


def _worker(task: str, cfg: dict, n_per_class: int | None, threads: int | None) -> dict:
    """Run a task of :mod:`bench.worker` in a fresh interpreter; returns its JSON line."""
    return _fresh("bench.worker", task, {**cfg, "_n_per_class": n_per_class, "_threads": threads})


def _fresh(module: str, task: str, payload: dict, *args: str) -> dict:
    """``python -m module task payload args...`` in a fresh interpreter; returns its last JSON line."""
    return _run_module(module, task, json.dumps(payload), *args)


def _run_module(module: str, *args: str) -> dict:
    """``python -m module args...`` in a fresh interpreter; returns its last JSON line."""
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"{module} {' '.join(args[:1])} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _auto_reason() -> str:
    import torch

    from eegtrain_jupyter.engine.precision import resolve_precision

    return resolve_precision("auto", torch.device("cpu")).reason


def _parity_row(id_: int, what: str, cand: dict, fp32: dict, fresh_n: int, quick: bool) -> Row:
    """abs(Δ validation accuracy) <= 1 point and abs(Δ fresh-data accuracy) <= 1.5 points vs fp32."""
    d_val = abs(cand["val_acc"] - fp32["val_acc"])
    d_fresh = abs(cand["fresh_acc"] - fp32["fresh_acc"])
    fmt = lambda r: f"val {r['val_acc']:.1f} % / fresh {r['fresh_acc']:.1f} %"  # noqa: E731
    return Row(
        id_,
        f"accuracy parity, {what}: {cand['precision_reason']} vs fp32, same seed",
        fmt(cand),
        f"{fmt(fp32)} (fp32)",
        d_val,
        "Δ val <= 1, Δ fresh <= 1.5 pts (abs.)",
        None if quick else (d_val <= 1.0 and d_fresh <= 1.5),
        note=f"ratio column: abs. Δ val acc in points; abs. Δ fresh acc = {d_fresh:.2f} on "
        f"2x{fresh_n} new windows (seed + 1000), best-epoch checkpoint",
        raw={"candidate": cand, "fp32": fp32},
    )


def bench_frozen(s: dict, quick: bool, threads: int | None) -> list[Row]:
    """Rows 1, 2, 7, 8 and 9: frozen-backbone ``engine.train`` vs one forward pass, the naive loop and
    itself in fp32 (wall time and accuracy)."""
    from eegtrain_jupyter.config.training import parse_config

    from . import cases

    config = parse_config(s["frozen_cfg"])
    fp32_cfg = {**s["frozen_cfg"], "precision": "fp32"}
    n = s["frozen_n"]
    fwd, trn, naive_ep, rss, trn32 = [], [], [], [], []
    acc: dict[str, dict] = {}

    def forward():
        fwd.append(
            _worker("forward", s["frozen_cfg"], n, threads)["seconds"]
            if s["isolate"]
            else cases.time_forward_all(config, n)
        )

    def train():  # always a fresh process: it also gives the run's peak RSS (row 7)
        fresh = 0 if acc.get("auto") else s["fresh_n"]  # row 9: accuracies from the first run
        res = _worker("frozen_train", {**s["frozen_cfg"], "_fresh_per_class": fresh}, n, threads)
        trn.append(res["seconds"])
        rss.append(res["max_rss_mb"])
        acc.setdefault("auto", res)

    def train_fp32():  # row 8's baseline and row 9's reference: the same run in fp32
        fresh = 0 if acc.get("fp32") else s["fresh_n"]
        res = _worker("frozen_train", {**fp32_cfg, "_fresh_per_class": fresh}, n, threads)
        trn32.append(res["seconds"])
        acc.setdefault("fp32", res)

    def naive():  # one epoch, extrapolated to n_epochs
        naive_ep.append(
            _worker("naive_epoch", s["frozen_cfg"], n, threads)["seconds"]
            if s["isolate"]
            else cases.time_naive_epochs(config, 1, n)
        )

    steps = [forward, train, naive, train_fp32]
    for r in range(s["repeats"]):
        order = steps[r % 4 :] + steps[: r % 4]  # rotate, so no side always runs first
        _log(f"frozen: {' / '.join(f.__name__ for f in order)}, repeat {r + 1}/{s['repeats']}")
        for step in order:
            step()
    t_fwd, t_trn = cases.median(fwd), cases.median(trn)
    naive = cases.median(naive_ep) * config.n_epochs
    r1 = cases.median([t / f for t, f in zip(trn, fwd, strict=False)])  # ratios of same-repeat pairs
    r2 = cases.median([e * config.n_epochs / t for e, t in zip(naive_ep, trn, strict=False)])
    r8 = cases.median([a / b for a, b in zip(trn, trn32, strict=True)])
    n_windows = 2 * (n or config.n_samples_per_class)
    size = f"2x{n_windows // 2} windows, {config.n_epochs} epochs"
    peak = max(rss)
    return [
        Row(
            1,
            f"frozen engine.train wall time ({size})",
            f"{t_trn:.2f} s",
            f"{t_fwd:.2f} s (one no-grad forward)",
            r1,
            "<= 1.3x",
            None if quick else r1 <= 1.3,
            note="median of per-repeat ratios",
            raw={"train_s": trn, "forward_s": fwd},
        ),
        Row(
            2,
            "frozen engine.train vs naive loop (speed-up)",
            f"{t_trn:.2f} s",
            f"{naive:.1f} s (naive; 1 epoch measured x {config.n_epochs})",
            r2,
            ">= 8x",
            None if quick else r2 >= 8,
            note="naive loop: 1 epoch per repeat, extrapolated",
            raw={"naive_epoch_s": naive_ep},
        ),
        Row(
            7,
            f"peak RSS of a frozen run ({size}, fresh process)",
            f"{peak / 1024:.2f} GB",
            "-",
            peak / 1024,
            "<= 1.5 GB",
            None if quick else peak / 1024 <= 1.5,
            note="ratio column: GB",
            raw={"max_rss_mb": rss},
        ),
        Row(
            8,
            f"frozen engine.train wall time, precision auto ({acc['auto']['precision_reason']}) vs fp32 "
            f"({size})",
            f"{t_trn:.2f} s",
            f"{cases.median(trn32):.2f} s (fp32)",
            r8,
            "<= 0.8",
            None if quick else r8 <= 0.8,
            note="median of per-repeat ratios",
            raw={"fp32_train_s": trn32},
        ),
        _parity_row(
            9,
            f"default frozen config, precision auto ({size})",
            acc["auto"],
            acc["fp32"],
            s["fresh_n"],
            quick,
        ),
    ]


def bench_finetune(s: dict, quick: bool) -> list[Row]:
    """Rows 3 and 4: fine-tune samples/s of engine (``precision: bf16``, what ``auto`` picks on
    native-bf16 CPUs, row 10) vs bare PyTorch loop vs braindecode/skorch (both fp32, their default)."""
    from . import cases

    config, data = cases.finetune_setup(s["ft_n"], s["ft_bs"])
    w, k = s["warmup"], s["steps"]
    res: dict[str, list[float]] = {"engine": [], "bare": [], "skorch": []}
    fns = {"engine": cases.finetune_engine, "bare": cases.finetune_bare, "skorch": cases.finetune_skorch}
    names = list(fns)
    for r in range(s["ft_repeats"]):
        order = names[r % 3 :] + names[: r % 3]  # rotate, so no side always runs first
        _log(f"fine-tune: {' / '.join(order)}, {k} steps after {w}, repeat {r + 1}/{s['ft_repeats']}")
        for name in order:
            res[name].append(fns[name](config, data, w, k))
    eng, bare, sk = res["engine"], res["bare"], res["skorch"]
    e, b, c = cases.median(eng), cases.median(bare), cases.median(sk)
    r3 = cases.median([x / y for x, y in zip(eng, bare, strict=False)])
    r4 = cases.median([x / y for x, y in zip(eng, sk, strict=False)])
    steps = f"{k} batches of {config.batch_size} after {w} warm-up"
    cand = f"precision {config.precision}"
    return [
        Row(
            3,
            f"fine-tune samples/s, {cand} (auto on native-bf16 CPUs, row 10) vs bare fp32 PyTorch loop ({steps})",
            f"{e:.1f} /s",
            f"{b:.1f} /s",
            r3,
            ">= 1.35x",
            None if quick else r3 >= 1.35,
            note="median of per-repeat ratios",
            raw={"engine": eng, "bare": bare},
        ),
        Row(
            4,
            f"fine-tune samples/s, {cand} vs braindecode EEGClassifier.fit fp32 ({steps})",
            f"{e:.1f} /s",
            f"{c:.1f} /s",
            r4,
            ">= 1.35x",
            None if quick else r4 >= 1.35,
            note="median of per-repeat ratios",
            raw={"skorch": sk},
        ),
    ]


FT_PARITY_BOUND = 1.5
"""Row 10's rule: ``precision: auto`` may pick bf16 for CPU fine-tuning only when the 95 % CI of
the paired bf16 - fp32 difference in balanced accuracy lies within +-1.5 points, over at least
``FT_MIN_SEEDS`` informative seeds."""
FT_MIN_SEEDS = 5
FT_CHANCE_MARGIN = 5.0
"""A seed is informative when either precision scores more than chance (50 %) + 5 points: a pair
that both stayed at chance differs by ~0 whatever the precision, and would narrow the interval
without saying anything about it."""


def bench_finetune_parity(s: dict, quick: bool, threads: int | None) -> list[Row]:
    """Row 10: the ``fine-tune`` preset in bf16 vs fp32, paired over seeds.

    Seed ``k`` (``config.seed = 42 + k``) generates the training windows, the validation split and
    the initial head, the same for both precisions; each run's best-epoch checkpoint is scored on
    ``2 x fresh_n`` newly generated windows (seed + 1000, balanced classes, so accuracy equals
    balanced accuracy). :func:`eegtrain_jupyter.engine.statistics.compare_paired` gives the mean
    difference and its 95 % t-interval over the seeds; the row is met when the interval lies within
    +-``FT_PARITY_BOUND`` points (the rule ``engine/precision.py`` applies to ``auto``)."""
    from eegtrain_jupyter.engine.statistics import compare_paired

    n, epochs, seeds, fresh_n = s["parity_n"], s["parity_epochs"], s["parity_seeds"], s["parity_fresh_n"]
    cfg = {"_preset": "fine-tune", "device": "cpu", "n_epochs": epochs}
    res: dict[str, list[dict]] = {"fp32": [], "bf16": []}
    for k in range(seeds):
        order = ("fp32", "bf16") if k % 2 == 0 else ("bf16", "fp32")  # alternate which runs first
        for precision in order:
            _log(
                f"fine-tune parity: seed {42 + k} ({k + 1}/{seeds}), {precision}, 2x{n} windows, {epochs} epochs"
            )
            run_cfg = {**cfg, "precision": precision, "seed": 42 + k}
            if s["isolate"]:
                res[precision].append(
                    _worker("frozen_train", {**run_cfg, "_fresh_per_class": fresh_n}, n, threads)
                )
            else:  # quick: in this process
                from eegtrain_jupyter.config.training import parse_config

                from .cases import train_with_accuracy

                config = parse_config(
                    {k2: v for k2, v in run_cfg.items() if k2 != "_preset"}, preset="fine-tune"
                )
                res[precision].append(train_with_accuracy(config, n, fresh_n))
    pairs = [
        (b["fresh_acc"], f["fresh_acc"])
        for b, f in zip(res["bf16"], res["fp32"], strict=True)
        if max(b["fresh_acc"], f["fresh_acc"]) > 50.0 + FT_CHANCE_MARGIN
    ]
    bf16 = [r["fresh_acc"] for r in res["bf16"]]
    fp32 = [r["fresh_acc"] for r in res["fp32"]]
    informative = len(pairs)
    c = (
        compare_paired([b for b, _ in pairs], [f for _, f in pairs], "bf16", "fp32")
        if informative > 1
        else None
    )
    widest = max(abs(c.ci_low), abs(c.ci_high)) if c is not None else float("inf")
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    return [
        Row(
            10,
            f"fine-tune preset bf16 vs fp32, paired over {seeds} seeds (2x{n} windows, {epochs} epochs; "
            f"balanced accuracy on 2x{fresh_n} fresh windows per seed)",
            f"{mean(bf16):.1f} % (bf16, mean)",
            f"{mean(fp32):.1f} % (fp32, mean)",
            widest,
            f"95 % CI of Δ within ±{FT_PARITY_BOUND:g} pts over >= {FT_MIN_SEEDS} informative seeds",
            None if quick else (informative >= FT_MIN_SEEDS and widest <= FT_PARITY_BOUND),
            note=(
                f"ratio column: the CI's largest abs. bound over the {informative} of {seeds} seeds "
                f"where a run beat chance + {FT_CHANCE_MARGIN:g} pts; "
                + (c.verdict if c is not None else "too few informative seeds for an interval")
            ),
            raw={
                "bf16": res["bf16"],
                "fp32": res["fp32"],
                "informative_seeds": informative,
                **(
                    {
                        "differences": c.differences,
                        "mean_difference": c.mean_difference,
                        "ci": [c.ci_low, c.ci_high],
                        "p_value": c.p_value,
                        "test": c.test,
                    }
                    if c is not None
                    else {}
                ),
            },
        )
    ]


def bench_server(s: dict, quick: bool) -> list[Row]:
    """Row 5: ``GET training/status`` p50/p99 while a fine-tune runs, vs the idle server."""
    from .server import status_latency

    _log(f"server: {s['srv_n']} status calls idle, then {s['srv_n']} during a fine-tune")
    r = status_latency(n=s["srv_n"])
    return [
        Row(
            5,
            f"GET training/status p50/p99 during fine-tune ({r['n']} calls each)",
            f"{r['busy_p50']:.1f} / {r['busy_p99']:.1f} ms",
            f"{r['idle_p50']:.1f} / {r['idle_p99']:.1f} ms (idle)",
            r["busy_p99"] / r["idle_p99"],
            "p99 <= 25 ms",
            None if quick else r["busy_p99"] <= 25.0,
            note="ratio: busy p99 / idle p99",
            raw=r,
        )
    ]


def bench_synthetic(s: dict, quick: bool) -> list[Row]:
    """Row 6: ``synthetic.generate`` wall time."""
    from . import cases

    _log("synthetic generation")
    times = [cases.time_generate(s["gen_n"]) for _ in range(s["gen_reps"])]
    t = cases.median(times)
    return [
        Row(
            6,
            f"synthetic.generate 2x{s['gen_n']} windows (median of {len(times)})",
            f"{t:.2f} s",
            "-",
            t,
            "<= 1 s",
            None if quick else t <= 1.0,
            note="ratio column: seconds",
            raw={"seconds": times},
        )
    ]


def _process_task(task: str, cfg: dict, *args: str) -> dict:
    """A task of :mod:`bench.process` in a fresh interpreter; returns its JSON line."""
    return _fresh("bench.process", task, cfg, *args)


def bench_process(s: dict, quick: bool) -> list[Row]:
    """Rows 11 and 12: the worker process's start-up overhead, and the server's RSS after a run."""
    from . import cases

    frozen = {"n_epochs": 1, "n_samples_per_class": 100, "device": "cpu"}
    _log(f"worker start-up: {s['proc_repeats']} warm runs, each against an in-thread start")
    st = _process_task("startup", frozen, str(s["proc_repeats"]))
    over = [w - t for w, t in zip(st["worker"], st["thread"], strict=False)]
    overhead = cases.median(over)
    ft = {
        "freeze_backbone": False,
        "n_epochs": 1,
        "n_samples_per_class": s["proc_ft_n"],
        "batch_size": 32,
        "learning_rate": 0.0003,
        "device": "cpu",
    }
    _log(f"server RSS after a fine-tune of 2x{s['proc_ft_n']} windows: worker, then in-thread")
    worker = _process_task("rss", ft, "worker")
    thread = _process_task("rss", ft, "thread")
    grow = {k: r["after_mb"] - r["before_mb"] for k, r in (("worker", worker), ("thread", thread))}
    return [
        Row(
            11,
            "start to first batch: worker process vs in-thread (warm fork server; frozen, 2x100)",
            f"{cases.median(st['worker']):.2f} s (first run, fork server start: {st['worker_cold']:.1f} s)",
            f"{cases.median(st['thread']):.2f} s (in-thread)",
            overhead,
            "<= 3 s over",
            None if quick else overhead <= 3.0,
            note="ratio column: seconds over in-thread, median",
            raw=st,
        ),
        Row(
            12,
            f"server RSS growth after a fine-tune run (2x{s['proc_ft_n']} windows, 1 epoch)",
            f"{grow['worker']:+.0f} MB (worker)",
            f"{grow['thread']:+.0f} MB (in-thread)",
            grow["worker"],
            "<= 100 MB",
            None if quick else grow["worker"] <= 100,
            note="ratio column: MB, worker",
            raw={"worker": worker, "thread": thread},
        ),
    ]


def bench_recipe(s: dict, quick: bool) -> list[Row]:
    """Rows 13-15: the ``fine-tune`` preset with the recipe, without it, and with augmentation, and
    the band-power LDA, on held-out synthetic subjects' test split (one data set, one split)."""
    from .honest import brief, compare_recipe

    n, epochs = s["recipe_n"], s["recipe_epochs"]
    res = compare_recipe(n, epochs, log=_log)
    raw = brief(res)
    acc = lambda name: res[name]["report"]["accuracy"]  # noqa: E731
    fmt = lambda name: (  # noqa: E731
        f"{acc(name):.1f} % / {res[name]['report']['balanced_accuracy']:.1f} % ({name})"
    )
    n_test = res["lda"]["report"]["n"]
    what = f"2x{n} windows, {epochs} epochs, held-out subjects' test split: {n_test} windows"
    note = "test acc / test balanced acc; ratio column: Δ test acc in points"
    pairs = (
        (
            13,
            "fine-tune: recipe (warmup_cosine, label smoothing 0.1, layer decay 0.65) vs off",
            "recipe",
            "recipe off",
        ),
        (14, "fine-tune: recipe + augmentation vs recipe alone", "recipe + augmentation", "recipe"),
        (
            15,
            "fine-tune preset as shipped (recipe off) vs band power + LDA",
            "recipe off",
            "lda",
        ),
    )
    rows = []
    for id_, measure, cand, base in pairs:
        delta = acc(cand) - acc(base)
        rows.append(
            Row(
                id_,
                f"{measure} ({what})",
                fmt(cand),
                fmt(base).replace("(lda)", "(band power + LDA)"),
                delta,
                "> 0 pts",
                None if quick else delta > 0,
                note=note,
                raw=raw if id_ == 13 else {},
            )
        )
    return rows


def bench_search(s: dict, quick: bool) -> list[Row]:
    """Rows 16-17: a head-only search of 20 trials (learning rate, weight decay, batch
    size) against one frozen run, with the default median pruner and with none
    (:mod:`bench.search_bench`, in a fresh interpreter: its own fork server and roots)."""
    _log("search vs one frozen run: median pruner, then none (bench.search_bench)")
    res = _run_module("bench.search_bench", *s["search"])
    run_s, rows = res["one_frozen_run_s"], []
    for id_, pruner in ((16, "median"), (17, "none")):
        r = res["by_pruner"][pruner]
        rows.append(
            Row(
                id_,
                f"head-only search, {r['trials']} trials (learning rate, weight decay, batch size), "
                f"pruner {pruner}, vs one frozen run of the same config",
                f"{r['search_s']:.2f} s ({r['complete']} complete, {r['pruned']} pruned; "
                f"later trial {r['median_later_trial_s']} s)",
                f"{run_s:.2f} s (one run; mean of before and after)",
                r["ratio"],
                "<= 2x",
                None if quick else r["ratio"] <= 2.0,
                note="ratio column: search / run",
                raw={**r, "one_frozen_run_s": run_s, "load_avg": res.get("load_avg_after")},
            )
        )
    return rows


def bench_light(s: dict, quick: bool) -> list[Row]:
    """Rows 18-20: the extension's cost to the Jupyter server it is loaded into
    (:mod:`bench.light`, in a fresh interpreter)."""
    _log("jupyter server with the extension vs without (bench.light)")
    r = _run_module("bench.light", *s["light"])
    n = r["starts"]
    return [
        Row(
            18,
            f"jupyter server start to the first /api/status, extension enabled vs disabled (median of {n})",
            f"{r['extension_start_s']:.2f} s",
            f"{r['plain_start_s']:.2f} s",
            r["start_delta_s"],
            "<= +0.5 s",
            None if quick else r["start_delta_s"] <= 0.5,
            note="ratio column: difference in seconds",
            raw=r,
        ),
        Row(
            19,
            f"jupyter server RSS at its first /api/status, extension enabled vs disabled (median of {n})",
            f"{r['extension_rss_mb']:.0f} MB",
            f"{r['plain_rss_mb']:.0f} MB",
            r["rss_delta_mb"],
            "<= +50 MB",
            None if quick else r["rss_delta_mb"] <= 50,
            note="ratio column: difference in MB",
            raw=r,
        ),
        Row(
            20,
            "server RSS after config/validate, a files run to its end and a prediction on a recording, "
            "vs idle",
            f"{r['after_run_rss_mb']:.0f} MB",
            f"{r['idle_rss_mb']:.0f} MB",
            r["run_rss_delta_mb"],
            "<= +100 MB",
            None if quick else r["run_rss_delta_mb"] <= 100,
            note="ratio column: difference in MB",
            raw=r,
        ),
    ]


def bench_scanmem(s: dict, quick: bool) -> list[Row]:
    """Row 21: a scan's peak memory on one large EDF against the windows it yields
    (:mod:`bench.scanmem`, the scan in a fresh interpreter)."""
    _log("scan of a large EDF: peak RSS vs the windows' bytes (bench.scanmem)")
    r = _run_module("bench.scanmem", *s["scanmem"])
    ratio = r["peak_increase_mb"] / r["budget_mb"]
    return [
        Row(
            21,
            f"peak RSS increase of data.scan on one EDF ({r['channels']} channels x {r['minutes']:g} min "
            f"at {r['sfreq']:g} Hz, {r['file_mb']:.0f} MB, {r['spans']} labelled {r['span_s']:g} s spans, "
            f"no cache)",
            f"{r['peak_increase_mb']:.0f} MB",
            f"{r['windows_mb']:.0f} MB of windows ({r['n_windows']})",
            ratio,
            "<= 1",
            None if quick else ratio <= 1,
            note="ratio column: peak increase / (2 x windows + 300 MB)",
            raw=r,
        )
    ]


def bench_evaluation(s: dict, quick: bool) -> list[Row]:
    """Rows 22-25: a 5-fold cross-subject benchmark of frozen LaBraM against one holdout run of the
    same config, and each classical baseline's run against that frozen run, all through the service
    (:mod:`bench.evaluation_bench`, in a fresh interpreter)."""
    _log("benchmark job and baselines vs one frozen run (bench.evaluation_bench)")
    r = _run_module("bench.evaluation_bench", *s["evaluation"])
    med = r["median_s"]
    what = f"synthetic, 5 subjects, 2x{r['n_per_class']} windows, median of {r['repeats']}"
    rows = [
        Row(
            22,
            f"5-fold cross_subject benchmark of frozen LaBraM (5 runs) vs one holdout run, same config ({what})",
            f"{med['cross_subject']:.2f} s (feature cache entries after it: "
            f"{max(r['feature_cache_entries_after_benchmark'])})",
            f"{med['holdout']:.2f} s (one holdout run)",
            r["ratio_benchmark"],
            "<= 1.5x",
            None if quick else r["ratio_benchmark"] <= 1.5,
            note="median of per-repeat ratios; both start with an empty feature cache",
            raw=r,
        )
    ]
    for id_, name in ((23, "bandpower_lda"), (24, "csp_lda"), (25, "tangent_space_lr")):
        ratio = r["ratio_baselines"][name]
        rows.append(
            Row(
                id_,
                f"{name} holdout run vs a frozen LaBraM holdout run ({what})",
                f"{med[name]:.2f} s",
                f"{med['holdout']:.2f} s (frozen LaBraM)",
                ratio,
                "<= 0.1",
                None if quick else ratio <= 0.1,
                note="median of per-repeat ratios; start call to the run's end",
            )
        )
    return rows


def machine_info(threads: int | None) -> dict:
    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": cores,
        "torch": torch.__version__,
        "torch_threads": threads or torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (no CUDA device)",
        "python": platform.python_version(),
        "load_avg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def format_table(rows: list[Row]) -> str:
    head = "| # | measure | candidate | baseline (same run) | ratio | goal | met |\n|---|---|---|---|---|---|---|\n"
    lines = []
    for r in sorted(rows, key=lambda r: r.id):
        ratio = "skipped" if r.ratio is None else f"{r.ratio:.3g}"
        met = {True: "yes", False: "NO", None: "-"}[r.ok]
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.id} | {r.measure}{note} | {r.candidate} | {r.baseline} | {ratio} | {r.goal} | {met} |"
        )
    return head + "\n".join(lines) + "\n"


def run_all(
    quick: bool = False, only: set[int] | None = None, threads: int | None = None
) -> tuple[dict, list[Row]]:
    """Run the selected benchmarks; returns ``(machine info, rows)``."""
    import torch

    from eegtrain_jupyter.config.env import _auto_threads

    threads = _auto_threads() if threads is None else threads  # as TrainingManager's training thread
    if threads:
        torch.set_num_threads(threads)
    s = _sizes(quick)
    info = machine_info(threads)
    rows: list[Row] = []
    groups = [
        ({1, 2, 7, 8, 9}, bench_frozen, (s, quick, threads)),
        ({3, 4}, bench_finetune, (s, quick)),
        ({10}, bench_finetune_parity, (s, quick, threads)),
        ({5}, bench_server, (s, quick)),
        ({6}, bench_synthetic, (s, quick)),
        ({11, 12}, bench_process, (s, quick)),
        ({13, 14, 15}, bench_recipe, (s, quick)),
        ({16, 17}, bench_search, (s, quick)),
        ({18, 19, 20}, bench_light, (s, quick)),
        ({21}, bench_scanmem, (s, quick)),
        ({22, 23, 24, 25}, bench_evaluation, (s, quick)),
    ]
    for ids, fn, args in groups:
        if only and not ids & only:
            continue
        t0 = time.perf_counter()
        rows.extend(fn(*args))
        _log(f"{fn.__name__} took {time.perf_counter() - t0:.0f} s")
    info["load_avg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    info["auto_precision"] = _auto_reason()
    info["bench_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return info, rows


README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def _header(info: dict, quick: bool, wall: float, command: str) -> str:
    load = info.get("load_avg_start"), info.get("load_avg_end")
    fmt = lambda la: "n/a" if la is None else " ".join(f"{x:.1f}" for x in la)  # noqa: E731
    return (
        f"Generated by `{command}` on {info['date']} in {wall:.0f} s.\n\n"
        f"- machine: {info['cpu']}, {info['cores']} usable cores, device {info['device']}\n"
        f"- torch {info['torch']} ({info['torch_threads']} intra-op threads in the bench process), "
        f"python {info['python']}; `precision: auto` on this CPU: {info.get('auto_precision', 'n/a')}\n"
        f"- load average (1/5/15 min) at start: {fmt(load[0])}; at end: {fmt(load[1])}\n\n"
    )


def update_readme(path: Path, info: dict, rows: list[Row], wall: float, command: str) -> bool:
    """Replace the table between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in the README."""
    text = path.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    block = f"{README_START}\n{_header(info, False, wall, command)}{format_table(rows)}{README_END}"
    path.write_text(head + block + tail)
    return True


def write_results(
    path: Path, info: dict, rows: list[Row], quick: bool, wall: float, command: str = "python -m bench"
) -> None:
    text = (
        f"# Benchmark results{' (quick smoke run: tiny sizes, no thresholds)' if quick else ''}\n\n"
        + _header(info, quick, wall, command)
        + format_table(rows)
        + "\nEvery ratio compares a candidate with a baseline measured in the same run (back to back, "
        "rotating which goes first; median of per-repeat ratios); see `docs/performance.md` for what "
        "each row measures. Absolute numbers depend on the machine's load; read the ratios.\n\n"
        "<details><summary>raw numbers</summary>\n\n```json\n"
        + json.dumps({str(r.id): r.raw for r in rows}, indent=1, default=str)
        + "\n```\n</details>\n"
    )
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, no thresholds (CI smoke run)")
    p.add_argument("--only", default="", help="comma-separated benchmark numbers, e.g. 1,2,7")
    p.add_argument("--skip", default="", help="comma-separated benchmark numbers to leave out")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads in the bench and its workers (default: cores - 1, as TrainingManager; 0: torch's own)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="markdown results file (default: bench/RESULTS.md; none with --quick)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = p.parse_args(argv)
    ids = set(range(1, 26))
    if args.only:
        ids = {int(x) for x in args.only.split(",") if x}
    ids -= {int(x) for x in args.skip.split(",") if x}
    t0 = time.perf_counter()
    info, rows = run_all(args.quick, ids, args.threads)
    rows = [r for r in rows if r.id in ids]
    wall = time.perf_counter() - t0
    table = format_table(rows)
    print(table)
    out = args.out if args.out is not None else (None if args.quick else HERE / "RESULTS.md")
    command = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    if out is not None:
        write_results(out, info, rows, args.quick, wall, command)
        _log(f"wrote {out}")
    readme = HERE.parent / "README.md"
    if args.out is None and not args.quick and update_readme(readme, info, rows, wall, command):
        _log("updated the README's performance table")
    missed = [r.id for r in rows if r.ok is False]
    if missed:
        _log(f"goals missed: {missed}")
    return 1 if (args.strict and missed) else 0
