"""Training: schedule, loss, resume-after-SIGKILL, DDP with 2 CPU processes, bad input."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genomics.config import dump_config, load_config
from genomics.inference.losses import track_loss
from genomics.train.schedule import warmup_cosine

from conftest import run_cli


def test_warmup_cosine_hand_values():
    f = lambda s: warmup_cosine(s, warmup=4, total=12, final_fraction=0.1)  # noqa: E731
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(8) == pytest.approx(0.1 + 0.9 * 0.5)  # half way through the decay
    assert f(12) == pytest.approx(0.1) and f(50) == pytest.approx(0.1)


def test_warmup_stable_decay_hand_values():
    # 4 warm-up steps, then 16 steps: the peak rate holds for 12, the cosine spans the last 4
    f = lambda s: warmup_cosine(s, warmup=4, total=20, final_fraction=0.1, decay_fraction=0.25)  # noqa: E731
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert [f(s) for s in range(4, 17)] == [1.0] * 13
    assert f(18) == pytest.approx(0.1 + 0.9 * 0.5)  # half way through the decay
    assert f(20) == pytest.approx(0.1) and f(50) == pytest.approx(0.1)
    plain = lambda s: warmup_cosine(s, warmup=4, total=20, final_fraction=0.1)  # noqa: E731
    full = lambda s: warmup_cosine(s, warmup=4, total=20, final_fraction=0.1, decay_fraction=1.0)  # noqa: E731
    assert [plain(s) for s in range(25)] == [full(s) for s in range(25)]


def test_track_loss_hand_values():
    pred = torch.tensor([[[2.0, 0.0]]])  # (b=1, l=1, t=2): a rate and a logit
    target = torch.tensor([[[3.0, 1.0]]])
    coverage = torch.tensor([True, False])
    poisson = 2.0 - 3.0 * math.log(2.0 + 1e-6)
    bce = math.log(2.0)  # -log(sigmoid(0))
    assert float(track_loss(pred, target, coverage)) == pytest.approx((poisson + bce) / 2, rel=1e-6)


def test_track_loss_gradient_is_finite_at_any_peak_logit():
    """A peak logit at -eps once reached the Poisson log: log(0), then 0 * inf = NaN."""
    pred = torch.tensor([[[2.0, -1e-6, 0.0]]], requires_grad=True)
    target = torch.tensor([[[3.0, 1.0, 0.0]]])
    track_loss(pred, target, torch.tensor([True, False, False])).backward()
    assert torch.isfinite(pred.grad).all(), pred.grad


def _write_config(root: Path, cfg: dict, name: str = "cfg.yaml") -> Path:
    path = root / name
    path.write_text(dump_config(cfg))
    return path


def _run(
    root: Path, *args: str, env_extra: dict | None = None, launcher=None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    cmd = (launcher or [sys.executable, "-m", "genomics"]) + list(args)
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)


def _train_rows(folder: Path) -> dict[tuple[int, str], str]:
    """``(step, metric) -> value`` of the train rows in a model folder's metrics.tsv,
    throughput left out."""
    rows = [r.split("\t") for r in (folder / "metrics.tsv").read_text().splitlines()[1:]]
    return {
        (int(step), metric): value
        for step, _, split, metric, value in rows
        if split == "train" and metric != "seq_per_s"
    }


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "weights.safetensors"))


# Kill the training process with SIGKILL inside optimizer step N (between checkpoints).
_KILLER = """
import os, signal, sys, torch
from genomics.cli import main
_step, _n = torch.optim.AdamW.step, [0]
def step(self, *a, **k):
    _n[0] += 1
    if _n[0] == int(os.environ["KILL_AT_STEP"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return _step(self, *a, **k)
torch.optim.AdamW.step = step
sys.exit(main(sys.argv[1:]))
"""


def _kill_at_step_11_and_resume(root: Path, args: list[str], out: Path) -> None:
    """Train into ``out``, SIGKILL inside step 11 (last checkpoint: 8), rerun to the end."""
    killer = out.parent / "killer.py"
    killer.write_text(_KILLER)
    r = _run(
        root,
        *args,
        "--out",
        str(out),
        env_extra={"KILL_AT_STEP": "11"},
        launcher=[sys.executable, str(killer)],
    )
    assert r.returncode == -9, r.stderr  # SIGKILL
    assert not (out / "weights.safetensors").exists()
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt"))[-1] == "step-00000008.pt"
    r = _run(root, *args, "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stderr and "step 8" in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1])
def test_resume_after_sigkill_gives_identical_weights(workspace, tmp_path, workers):
    root, cfg = workspace
    cfg = copy.deepcopy(cfg)
    cfg["train"]["num_workers"] = workers
    cfg["model"]["convformer"]["dropout"] = 0.2  # dropout RNG must resume too
    cfg["train"]["log_every"] = 3  # the step-8 checkpoint falls inside a log window
    config = _write_config(tmp_path, cfg)
    full, killed = tmp_path / "full", tmp_path / "killed"
    args = ["train", "--config", str(config)]

    r = _run(root, *args, "--out", str(full))
    assert r.returncode == 0, r.stderr

    _kill_at_step_11_and_resume(root, args, killed)
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the logs agree on every validation, and on every train row but its throughput
    valid = lambda p: [r for r in (p / "metrics.tsv").read_text().splitlines() if "\tvalid\t" in r]  # noqa: E731
    assert valid(full) == valid(killed)
    assert _train_rows(full) == _train_rows(killed)
    assert sorted({s for s, _ in _train_rows(full)}) == [3, 6, 9, 12, 15, 16]
    # each row's lr is the rate its last step used (the scheduler had stepped 2 times)
    tc = load_config(config)["train"]
    used = tc["lr"] * warmup_cosine(2, warmup=2, total=16, final_fraction=tc["final_lr_fraction"])
    assert float(_train_rows(full)[3, "lr"]) == pytest.approx(used, rel=1e-6)


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_gradient_accumulation(workspace, tmp_path):
    root, cfg = workspace
    cfg = copy.deepcopy(cfg)
    cfg["model"]["convformer"]["dropout"] = 0.0
    cfg["train"].update(max_steps=6, batch_size=1, eval_every=3, checkpoint_every=3)
    ddp_cfg = copy.deepcopy(cfg)
    ddp_cfg["train"]["processes"] = 2
    single_cfg = copy.deepcopy(cfg)
    single_cfg["train"]["accumulate"] = 2
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "genomics",
    ]
    r = _run(
        root,
        "train",
        "--config",
        str(_write_config(tmp_path, ddp_cfg, "ddp.yaml")),
        "--out",
        str(tmp_path / "ddp"),
        launcher=torchrun,
    )
    assert r.returncode == 0, r.stderr
    ckpt = torch.load(tmp_path / "ddp" / "checkpoints" / "step-00000006.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    r = _run(
        root,
        "train",
        "--config",
        str(_write_config(tmp_path, single_cfg, "one.yaml")),
        "--out",
        str(tmp_path / "one"),
    )
    assert r.returncode == 0, r.stderr
    # Compare the last step's weights (the exported ones are the best validation step's,
    # and validation sees BatchNorm running statistics, which DDP takes from rank 0) by what
    # they compute in training mode: conv biases just before a BatchNorm get no gradient
    # but float noise, which Adam turns into arbitrary steps that BatchNorm then cancels.
    last = "checkpoints/step-00000006.pt"
    states = [
        torch.load(tmp_path / run / last, weights_only=True)["model"] for run in ("ddp", "one")
    ]
    init = _model(single_cfg, root)
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (2, 8192)), 4).float().transpose(1, 2)
    with torch.no_grad():
        y0 = init(x)
        ys = []
        for state in states:
            init.load_state_dict(state)
            ys.append(init(x))
    assert float((ys[0] - y0).abs().max()) > 1e-2  # training did something
    torch.testing.assert_close(ys[0], ys[1], atol=1e-4, rtol=1e-3)
    # the logged train loss is over both ranks' windows, as the single process's
    ddp_rows, one_rows = _train_rows(tmp_path / "ddp"), _train_rows(tmp_path / "one")
    assert ddp_rows.keys() == one_rows.keys() == {(s, m) for s in (2, 4, 6) for m in ("loss", "lr")}
    for key, value in ddp_rows.items():
        assert float(value) == pytest.approx(float(one_rows[key]), rel=1e-4), key

    # a checkpoint made by 2 processes does not resume in 1
    ddp_cfg["train"]["processes"] = 1
    code, err = run_cli(
        root,
        [
            "train",
            "--config",
            str(_write_config(tmp_path, ddp_cfg, "ddp1.yaml")),
            "--out",
            str(tmp_path / "ddp"),
        ],
    )
    assert code == 2 and "made by 2 processes, this run has 1" in err


def _model(cfg: dict, root: Path) -> torch.nn.Module:
    """The configured model with its initial weights, in training mode."""
    from genomics.data.targets import TargetStore
    from genomics.models import build_model

    targets = TargetStore(root / "results" / "targets")
    torch.manual_seed(cfg["seed"])
    model = build_model(
        "convformer",
        n_tracks=targets.n_tracks,
        track_kinds=targets.track_kinds,
        bin_size=128,
        crop_bins=0,
        **cfg["model"]["convformer"],
    )
    return model.train()


@pytest.fixture
def trained(workspace, tmp_path):
    """A model trained for 4 steps into tmp_path/model, with its config file."""
    root, cfg = workspace
    cfg = copy.deepcopy(cfg)
    cfg["train"].update(max_steps=4, eval_every=2, checkpoint_every=2)
    config = _write_config(tmp_path, cfg)
    code, err = run_cli(root, ["train", "--config", str(config), "--out", str(tmp_path / "model")])
    assert code == 0, err
    return root, cfg, config, tmp_path / "model"


def test_model_folder_and_rerun_is_a_no_op(trained):
    root, cfg, config, model = trained
    spec = (model / "model.json").read_text()
    assert '"track_names"' in spec and '"bin_size": 128' in spec
    seconds = json.loads(spec)["trained"]["seconds"]
    assert seconds > 0
    before = _weights(model)
    code, err = run_cli(root, ["train", "--config", str(config), "--out", str(model)])
    assert code == 0, err
    after = _weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the wall time is carried in the checkpoint: a rerun with nothing to do adds ~nothing
    again = json.loads((model / "model.json").read_text())["trained"]["seconds"]
    assert abs(again - seconds) < 5


def test_checkpoint_from_another_config_is_refused(trained, tmp_path, caplog):
    root, cfg, config, model = trained
    cfg["model"]["convformer"]["dim"] = 32
    other = _write_config(tmp_path, cfg, "other.yaml")
    code, err = run_cli(root, ["train", "--config", str(other), "--out", str(model)])
    assert code == 2
    assert "was made with another config (model.convformer.dim: 16 != 32)" in err
    assert err.count("\n") == 1  # one line, no traceback
    assert (model / "weights.safetensors").is_file()  # nothing lost
    assert "dim: 16" in (model / "config.yaml").read_text()  # still the config of its weights
    # what the workflow passes: the old run is set aside and training starts over
    old = _weights(model)
    restart = ["--out", str(model), "--restart-if-changed"]
    code, err = run_cli(root, ["train", "--config", str(other), *restart])
    assert code == 0, err
    assert "model.convformer.dim: 16 != 32): set aside in" in caplog.text
    assert "training starts over" in caplog.text
    (aside,) = (model / "superseded").iterdir()
    assert sorted(p.name for p in (aside / "checkpoints").iterdir()) == [
        "step-00000002.pt",
        "step-00000004.pt",
    ]
    assert (aside / "best.safetensors").is_file() and (aside / "metrics.tsv").is_file()
    assert "dim: 32" in (model / "config.yaml").read_text()
    new = _weights(model)  # dim 32: twice as wide
    assert new["head.linear.weight"].shape[1] == 2 * old["head.linear.weight"].shape[1]
    # back to the first config: its run comes back and resumes (done: the same weights)
    caplog.clear()
    code, err = run_cli(root, ["train", "--config", str(config), *restart])
    assert code == 0, err
    assert "set aside earlier, is back" in caplog.text
    assert all(torch.equal(old[k], v) for k, v in _weights(model).items())
    assert len(list((model / "superseded").iterdir())) == 1  # the dim-32 run now


def test_two_trainings_into_one_folder_are_refused(trained):
    from genomics.io import folder_lock

    root, cfg, config, model = trained
    with folder_lock(model, "genomics train"):
        code, err = run_cli(root, ["train", "--config", str(config), "--out", str(model)])
    assert code == 2, err
    assert f"another `genomics train` (pid {os.getpid()}) is writing into {model}" in err
    code, err = run_cli(root, ["train", "--config", str(config), "--out", str(model)])
    assert code == 0, err  # released with its holder


def test_checkpoint_made_on_other_data_is_refused(trained, tmp_path):
    """Same config, rebuilt targets (one track rescaled): resuming would pass off the old
    weights as trained on the new targets."""
    from genomics.data.targets import build_target_store, load_tracks

    root, cfg, config, model = trained
    tracks = load_tracks(str(root / "results" / "sim" / "tracks.tsv"))
    tracks[0]["scale"] = 2.0
    build_target_store(root / "results" / "genome", tracks, tmp_path / "t2", bin_size=128)
    before, config_text = _weights(model), (model / "config.yaml").read_text()
    code, err = run_cli(
        root,
        ["train", "--config", str(config), "--targets", str(tmp_path / "t2"), "--out", str(model)],
    )
    assert code == 2 and err.count("\n") == 1, err
    assert "was made on other data (the targets store changed since" in err
    assert "delete its checkpoints to start over" in err
    after = _weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert (model / "config.yaml").read_text() == config_text


def test_windows_from_another_genome_or_length_are_refused(trained, tmp_path):
    from genomics.data.genome import GenomeStore, build_genome_store
    from genomics.data.windows import build_windows

    root, cfg, config, model = trained
    res = root / "results"
    w = cfg["windows"]
    split = dict(valid=w["split"]["valid"], test=w["split"]["test"], bin_size=128)
    # the same FASTA built with another parameter: another genome store
    other = tmp_path / "g2"
    build_genome_store(res / "sim" / "genome.fa", other, min_length=1)
    assert GenomeStore(other).digest != GenomeStore(res / "genome").digest
    build_windows(
        GenomeStore(other), tmp_path / "w2", length=w["length"], stride=w["stride"], **split
    )
    for cmd in (["train"], ["evaluate", "--model", str(model)]):
        args = ["--config", str(config), "--windows", str(tmp_path / "w2")]
        code, err = run_cli(root, [*cmd, *args, "--out", str(tmp_path / cmd[0])])
        assert code == 2 and "cut from another genome store" in err, err
        assert "rerun `genomics windows` with this genome store" in err
    # windows twice as long from the right genome: evaluate refuses them too
    build_windows(
        GenomeStore(res / "genome"),
        tmp_path / "w3",
        length=2 * w["length"],
        stride=w["stride"],
        **split,
    )
    code, err = run_cli(
        root,
        [
            "evaluate",
            "--config",
            str(config),
            "--model",
            str(model),
            "--windows",
            str(tmp_path / "w3"),
        ],
    )
    assert code == 2, err
    assert f"holds {2 * w['length']}-bp windows but {model} was trained on {w['length']}-bp" in err


def test_corrupted_checkpoint_is_refused(trained):
    root, cfg, config, model = trained
    ckpt = sorted((model / "checkpoints").glob("*.pt"))[-1]
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    code, err = run_cli(root, ["train", "--config", str(config), "--out", str(model)])
    assert code == 2
    assert f"checkpoint {ckpt} is damaged" in err and "delete it" in err
    assert len(list((model / "checkpoints").glob("*.pt"))) == 2  # nothing deleted for the user


def test_missing_split_is_refused(workspace, tmp_path):
    root, cfg = workspace
    windows = tmp_path / "windows"
    shutil.copytree(root / "results" / "windows", windows)
    (windows / "valid.bed").unlink()
    config = _write_config(tmp_path, cfg)
    code, err = run_cli(
        root,
        ["train", "--config", str(config), "--windows", str(windows), "--out", str(tmp_path / "m")],
    )
    assert code == 2 and "valid.bed: missing or changed" in err and "genomics windows" in err


def test_early_stopping_metric_that_no_track_has_is_refused(workspace, tmp_path):
    root, cfg = workspace  # coverage tracks only: no AUPRC to stop on
    cfg = copy.deepcopy(cfg)
    cfg["train"]["early_stopping"] = {"metric": "auprc"}
    config = _write_config(tmp_path, cfg)
    code, err = run_cli(root, ["train", "--config", str(config), "--out", str(tmp_path / "m")])
    assert code == 2 and "early_stopping.metric 'auprc' is not computed" in err, err
    assert "coverage tracks" in err and "loss, pearson, pearson_log1p, spearman" in err
    assert not (tmp_path / "m").exists()


def test_window_that_the_model_cannot_pool_is_refused(workspace, tmp_path):
    root, cfg = workspace
    config = _write_config(tmp_path, cfg)
    code, err = run_cli(
        root,
        [
            "train",
            "--config",
            str(config),
            "--set",
            "targets.bin_size=96",
            "--set",
            "windows.length=9216",
        ],
    )
    assert code == 2 and "targets.bin_size 96 is not a power of two" in err
    code, err = run_cli(root, ["train", "--config", str(config), "--set", "windows.length=8000"])
    assert code == 2 and "windows.length 8000 is not a multiple of targets.bin_size 128" in err
    code, err = run_cli(
        root,
        [
            "train",
            "--config",
            str(config),
            "--set",
            "windows.length=16384",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert code == 2 and "holds 8192-bp windows but windows.length is 16384" in err


def test_contradictory_model_hyperparameters_name_the_section(workspace, tmp_path):
    root, cfg = workspace
    args = ["train", "--config", str(_write_config(tmp_path, cfg))]
    code, err = run_cli(root, [*args, "--set", "model.convformer.heads=3", "--out", "m"])
    assert code == 2 and "model.convformer: heads 3 does not divide dim 16" in err, err
    assert not (root / "m").exists()


def test_batch_larger_than_the_train_split_is_refused(workspace, tmp_path, caplog):
    root, cfg = workspace
    args = ["train", "--config", str(_write_config(tmp_path, cfg)), "--out", "m"]
    code, err = run_cli(root, [*args, "--set", "train.batch_size=1000"])
    assert code == 2 and "train.batch_size 1000 is larger than the" in err, err
    assert "train windows" in err and not (root / "m").exists()


def test_processes_without_torchrun_are_warned_about(workspace, tmp_path, caplog):
    root, cfg = workspace
    args = ["train", "--config", str(_write_config(tmp_path, cfg)), "--out", str(tmp_path / "m")]
    code, err = run_cli(root, [*args, "--set", "train.processes=2"])
    assert code == 0, err
    assert "train.processes is 2 but this is one process: start it with `torchrun" in caplog.text


def test_evaluate_without_example_figures(trained, tmp_path):
    root, cfg, config, model = trained
    out = tmp_path / "e"
    args = ["evaluate", "--config", str(config), "--model", str(model), "--out", str(out)]
    code, err = run_cli(root, [*args, "--set", "evaluate.n_examples=0"])
    assert code == 0, err
    assert (out / "metrics.json").is_file() and (out / "metric_bars.png").is_file()
    assert not list(out.glob("tracks-*.png"))


def test_damaged_weights_say_how_to_recover(trained, tmp_path):
    root, cfg, config, model = trained
    good = (model / "weights.safetensors").read_bytes()
    (model / "weights.safetensors").write_bytes(good[:100])
    args = [
        "evaluate",
        "--config",
        str(config),
        "--model",
        str(model),
        "--out",
        str(tmp_path / "e"),
    ]
    code, err = run_cli(root, args)
    assert code == 2 and "damaged weights file" in err and "rerun `genomics train` into" in err
    code, err = run_cli(root, ["train", "--config", str(config), "--out", str(model)])
    assert code == 0, err
    assert (model / "weights.safetensors").read_bytes() == good
    assert run_cli(root, args)[0] == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_cuda_without_gpu_fails_at_once(workspace, tmp_path):
    root, cfg = workspace
    config = _write_config(tmp_path, cfg)
    code, err = run_cli(
        root,
        [
            "train",
            "--config",
            str(config),
            "--set",
            "train.device=cuda",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert code == 2 and "train.device is 'cuda' but no CUDA device is visible" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_compile_training_resumes_after_sigkill(workspace, tmp_path):
    """The GPU path end to end: CUDA, bf16 autocast, torch.compile; killed and resumed.
    GPU kernels (convolution backward) are not bitwise deterministic, so the resumed
    weights are compared with a tolerance well below one Adam step's change."""
    root, cfg = workspace
    cfg = copy.deepcopy(cfg)
    cfg["train"].update(device="cuda", precision="bf16", compile=True)
    config = _write_config(tmp_path, cfg)
    full, killed = tmp_path / "full", tmp_path / "killed"
    args = ["train", "--config", str(config)]
    r = _run(root, *args, "--out", str(full))
    assert r.returncode == 0, r.stderr
    assert "on cuda" in r.stderr and "bfloat16" in r.stderr
    _kill_at_step_11_and_resume(root, args, killed)
    a, b = _weights(full), _weights(killed)
    for k in a:
        assert torch.isfinite(a[k]).all(), k
        torch.testing.assert_close(a[k], b[k], atol=1e-3, rtol=0, msg=k)
    r = _run(
        root,
        "evaluate",
        "--config",
        str(config),
        "--model",
        str(full),
        "--out",
        str(tmp_path / "eval"),
    )
    assert r.returncode == 0, r.stderr


def test_evaluate_writes_metrics_and_figures(trained, tmp_path):
    root, cfg, config, model = trained
    out = tmp_path / "eval"
    code, err = run_cli(
        root, ["evaluate", "--config", str(config), "--model", str(model), "--out", str(out)]
    )
    assert code == 0, err
    rows = (out / "metrics.tsv").read_text().splitlines()
    assert len(rows) == 1 + 10 and rows[0].startswith("track\tkind")
    assert (out / "metric_bars.png").stat().st_size > 1000
    assert (out / "tracks-0.png").is_file()
    # another split goes to its own folder by default, and old example figures go
    valid = root / "results" / "eval" / f"{model.name}-valid"
    valid.mkdir(parents=True, exist_ok=True)
    (valid / "tracks-5.png").write_bytes(b"from an earlier run")
    code, err = run_cli(
        root, ["evaluate", "--config", str(config), "--model", str(model), "--split", "valid"]
    )
    assert code == 0, err
    assert json.loads((valid / "metrics.json").read_text())["summary"]["split"] == "valid"
    shown = sorted(p.name for p in valid.glob("tracks-*.png"))
    assert shown == [f"tracks-{i}.png" for i in range(cfg["evaluate"]["n_examples"])]
    assert json.loads((out / "metrics.json").read_text())["summary"]["split"] == "test"


def test_evaluate_refuses_other_targets(trained, tmp_path):
    root, cfg, config, model = trained
    spec = json.loads((model / "model.json").read_text())
    spec["targets_digest"] = "0" * 16
    (model / "model.json").write_text(json.dumps(spec))
    code, err = run_cli(
        root,
        ["evaluate", "--config", str(config), "--model", str(model), "--out", str(tmp_path / "e")],
    )
    assert code == 2 and "trained on another target store" in err


def test_peak_tracks_train_with_bce_and_report_auprc_against_chance(
    workspace, tmp_path, caplog, monkeypatch
):
    """A peaks track (BED) next to a coverage track: BCE, AUPRC early stopping, evaluate."""
    root, cfg = workspace
    cfg = copy.deepcopy(cfg)
    res = root / "results"
    cfg["targets"]["tracks"] = [
        {"name": "elements", "path": str(res / "sim" / "elements.bed"), "kind": "peaks",
         "peak_mode": "binary"},
        {"name": "tf_m0", "path": str(res / "sim" / "tracks" / "tf_m0.bw")},
    ]  # fmt: skip
    cfg["train"].update(max_steps=4, eval_every=2, early_stopping={"metric": "auprc"})
    config = _write_config(tmp_path, cfg)
    targets, model, out = tmp_path / "targets", tmp_path / "model", tmp_path / "eval"
    base = ["--config", str(config), "--targets", str(targets)]
    code, err = run_cli(root, ["targets", "--config", str(config), "--out", str(targets)])
    assert code == 0, err
    with caplog.at_level("INFO", logger="genomics"):
        code, err = run_cli(root, ["train", *base, "--out", str(model)])
    assert code == 0, err
    log = caplog.text
    # eval_batches 2 x batch_size 2 windows, spread over the valid split
    assert re.search(
        r"step 4 valid \(4 windows\) loss [\d.]+ auprc [\d.]+ \(chance 0\.\d+\)", log
    ), log
    import genomics.evaluate.from_config as evaluate_run

    drawn = []  # the example figures get the kinds, so peak logits are drawn as probabilities
    real = evaluate_run.plot_tracks
    monkeypatch.setattr(
        evaluate_run, "plot_tracks", lambda *a, **k: drawn.append(k["kinds"]) or real(*a, **k)
    )
    code, err = run_cli(root, ["evaluate", *base, "--model", str(model), "--out", str(out)])
    assert code == 0, err
    assert drawn and all(k == ["peaks", "coverage"] for k in drawn)
    rows = {r["track"]: r for r in json.loads((out / "metrics.json").read_text())["tracks"]}
    peaks, cov = rows["elements"], rows["tf_m0"]
    assert peaks["kind"] == "peaks" and 0 < peaks["auprc_baseline"] < 0.5
    assert 0 <= peaks["auroc"] <= 1 and 0 < peaks["auprc"] <= 1
    assert cov["kind"] == "coverage" and "auprc_baseline" not in cov


def test_training_matches_the_run_recorded_before_the_refactor(trained):
    """Moving code between modules must not change what a config trains: these losses
    were logged by the code of commit 8bb2cff (before genomics/inference and fit's split)
    on this tiny config; float sums differ slightly across CPUs, hence the tolerance."""
    _, _, _, model = trained
    rows = (model / "metrics.tsv").read_text().splitlines()[1:]
    got = {
        (int(step), split): float(value)
        for step, _, split, metric, value in (r.split("\t") for r in rows)
        if metric == "loss"
    }
    recorded = {
        (2, "train"): 1.63269,
        (2, "valid"): 1.58145,
        (4, "train"): 1.4327,
        (4, "valid"): 1.54026,
    }
    assert got.keys() == recorded.keys()
    for key, value in recorded.items():
        assert got[key] == pytest.approx(value, rel=1e-3), key
