"""``precision: auto`` (bf16 autocast where the hardware runs it natively); what a bf16 run keeps in fp32."""

from __future__ import annotations

import pytest
import torch
from configs import TINY

from eegtrain_jupyter import files
from eegtrain_jupyter.config.training import parse_config
from eegtrain_jupyter.data.synthetic import generate
from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.engine.precision import cpu_bf16_feature, resolve_precision
from eegtrain_jupyter.engine.training import PinnedStaging, train
from eegtrain_jupyter.models.labram import load_checkpoint
from eegtrain_jupyter.service.manager import TrainingManager

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def torch_reports_native_cpu_bf16() -> str | None:
    """Asked here independently of the code under test: oneDNN bf16 plus avx512_bf16/amx_bf16."""
    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return None
    caps = torch._C._cpu._get_cpu_capability()
    return "amx_bf16" if caps.get("amx_bf16") else "avx512_bf16" if caps.get("avx512_bf16") else None


def test_auto_is_bf16_exactly_when_torch_reports_native_cpu_bf16():
    native = torch_reports_native_cpu_bf16()
    chosen = resolve_precision("auto", CPU)
    assert cpu_bf16_feature() == native
    if native:
        assert (chosen.name, chosen.reason) == ("bf16", f"bf16 (cpu: {native})")
    else:
        assert (chosen.name, chosen.reason) == ("fp32", "fp32 (cpu: no native bf16)")


@pytest.mark.parametrize("feature", ["avx512_bf16", "amx_bf16"])
def test_auto_follows_the_probe_it_is_given(feature):
    assert resolve_precision("auto", CPU, cpu_bf16=lambda: feature).reason == f"bf16 (cpu: {feature})"
    told_no = resolve_precision("auto", CPU, cpu_bf16=lambda: None)
    assert (told_no.name, told_no.reason) == ("fp32", "fp32 (cpu: no native bf16)")


def test_auto_fine_tunes_in_bf16_only_on_native_bf16_cpus():
    """bf16 fine-tuning met the paired accuracy bound (bench row 10): auto follows the CPU probe."""
    chosen = resolve_precision("auto", CPU, fine_tune=True, cpu_bf16=lambda: "avx512_bf16")
    assert (chosen.name, chosen.reason) == ("bf16", "bf16 (cpu: avx512_bf16)")
    emulated = resolve_precision("auto", CPU, fine_tune=True, cpu_bf16=lambda: None)
    assert (emulated.name, emulated.reason) == ("fp32", "fp32 (cpu: no native bf16)")
    assert resolve_precision("fp32", CPU, fine_tune=True, cpu_bf16=lambda: "amx_bf16").name == "fp32"
    assert resolve_precision("auto", CUDA, fine_tune=True).name == "bf16"


def test_explicit_choices_and_cuda_do_not_ask_the_cpu():
    def never() -> str | None:
        raise AssertionError("the CPU probe was consulted")

    for requested in ("fp32", "bf16"):
        chosen = resolve_precision(requested, CPU, cpu_bf16=never)
        assert (chosen.name, chosen.reason) == (requested, f"{requested} (requested)")
    assert resolve_precision("auto", CUDA, cpu_bf16=never).reason == "bf16 (cuda)"
    assert resolve_precision("auto", torch.device("mps"), cpu_bf16=never).name == "fp32"


def _all_fp32(state: dict[str, torch.Tensor]) -> bool:
    return all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())


@pytest.mark.slow
def test_a_bf16_fine_tune_keeps_weights_in_fp32(tmp_path):
    config = parse_config({**TINY, "precision": "bf16", "freeze_backbone": False, "batch_size": 16})
    train(config, generate(config.n_samples_per_class, seed=config.seed), tmp_path)
    _, ckpt = load_checkpoint(tmp_path / artifacts.CHECKPOINT_NAME)
    assert ckpt["precision"] == "bf16" and _all_fp32(ckpt["model_state_dict"])


def test_a_bf16_run_says_so_everywhere_and_saves_fp32_weights(tmp_path):
    """Status, run record (API and run.json) and checkpoint say what was used and why; weights stay fp32."""
    manager = TrainingManager(tmp_path)
    manager.start({**TINY, "precision": "bf16", "save_dir": "models"})
    assert manager.wait(300)
    status = manager.status()
    assert status.state.value == "completed", status.error
    assert (status.precision, status.precision_reason) == ("bf16", "bf16 (requested)")
    record = next(r for r in manager.runs() if r.run_id == status.run_id)
    assert record.precision_reason == "bf16 (requested)"
    on_disk = files.read_json(tmp_path / "models" / "runs" / status.run_id / "run.json")
    assert on_disk["precision_reason"] == "bf16 (requested)"
    model, ckpt = load_checkpoint(status.files["checkpoint"])
    assert (ckpt["precision"], ckpt["precision_reason"]) == ("bf16", "bf16 (requested)")
    assert ckpt["model_state_dict"] and _all_fp32(ckpt["model_state_dict"])
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_pinned_staging_gathers_the_rows_asked_for():
    """The staging path (used on CUDA) gathers exactly ``source[idx]``, alternating its two buffers."""
    source = torch.arange(40 * 3, dtype=torch.float32).reshape(40, 3)
    stage = PinnedStaging(source, capacity=8, device=CPU)
    seen = set()
    for idx in (torch.tensor([5, 1, 7]), torch.randperm(40)[:8], torch.tensor([39]), torch.randperm(40)[:8]):
        out = stage.gather(idx)
        assert torch.equal(out, source[idx])
        seen.add(out.data_ptr())
    assert len(seen) == 2  # two buffers, reused in turn
