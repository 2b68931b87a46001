"""Training throughput and MFU: our convformer against enformer-pytorch, in one run.

One training step is the one :func:`genomics.train.fit.fit` takes: forward under
:func:`genomics.inference.device.autocast` (bf16 on CUDA, fp32 on CPU), Poisson loss from
:func:`genomics.inference.losses.track_loss`, backward, gradient clipping at 1.0, AdamW from
:func:`genomics.train.fit.make_optimizer`. Data are random one-hot windows and Poisson
targets already on the device (data loading is benchmarked in ``bench/data_loader.py``).

Models, at the same width, depth, heads, input length, crop, batch and dropout:

- ours: ``build_model("convformer", stem_channels=dim // 2, pool="attention")``;
- enformer-pytorch (lucidrains): ``Enformer.from_hparams(dim, depth, heads, ...)`` with
  ``dim_divisible_by=8`` so its conv tower has exactly our channel widths;
- ours, conv baseline: ``build_model("conv")`` with the same tower and ``depth`` dilated
  blocks in place of the transformer blocks (a reference row, not in the ratio).

FLOPs per step are counted the same way for every model: :func:`genomics.models.count_flops`
(``FlopCounterMode`` on the meta device, at the real length and batch, forward plus the
parameter-gradient backward; matmuls, convolutions and attention only). enformer-pytorch
goes through a thin adapter taking our ``(b, 4, l)`` layout. MFU = FLOPs per step / median
step time / peak: on CUDA the datasheet bf16 dense peak of the detected GPU, and beside it
the best bf16 8192^3 matmul *measured in the same run*; on CPU a peak measured in the same
run (best fp32 matmul GFLOP/s with torch on this machine).

Differences that remain (enformer-pytorch as published): relative positional encodings
(an extra ``(2l - 1)``-wide logits matmul per head, explicit softmax, no fused attention
kernel) where ours has RoPE and SDPA (flash on GPU); keys 64 wide per head where ours are
``dim / heads`` (so its q/k projections differ in size; FLOPs are counted per model); a
ReLU MLP (ours GELU); a BatchNorm + 1x1-conv pointwise block (ours LayerNorm + Linear);
sigmoid-approximated GELU in the tower. enformer-pytorch needs ``dim / heads`` divisible by 6.

Each model runs in its own subprocess (clean peak memory: ``max_memory_allocated`` on CUDA,
``ru_maxrss`` on CPU), in ``--rounds`` rounds whose order alternates; the step time is the
median over all timed steps. The load of the machine is sampled during each timed loop
(CPU seconds of other processes per second, and ``os.getloadavg``).

    bench/.venv/bin/python bench/train_throughput.py --device cpu    # ~3 min on 2 cores
    bench/.venv/bin/python bench/train_throughput.py --device cuda --compile
    python bench/train_throughput.py --tiny     # a tiny model on CPU, seconds (a smoke test)
    bash bench/gpu_check.sh run    # on an offline GPU machine: this and the GPU tests

``--tiny`` runs the same workers on a tiny model (CPU, dim 48, 4,096 bp, two timed steps, a
256^3 matmul peak) to check the script; without enformer-pytorch it prints a note and
compares ours with the conv baseline only.

On CPU one torch thread is the default (``--threads``): on a shared 2-core machine, two
OpenMP threads beside one other busy process made a step 40x slower.

Set-up of the bench environment (torch pinned so no dependency can pull another build;
enformer-pytorch 0.8.12 pulls transformers 4.56.2 and accelerate, which accept it):

    python3 -m venv bench/.venv
    bench/.venv/bin/pip install torch==2.13.0
    bench/.venv/bin/pip install torch==2.13.0 enformer-pytorch==0.8.12 -e .
"""

from __future__ import annotations

import argparse
import copy
import datetime
import importlib.util
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

BIN = 128
ENFORMER_DIVISIBLE_BY = 8  # our exponential_channels rounds to multiples of 8

# Datasheet dense (no sparsity) bf16 tensor-core peaks, TFLOP/s; first match of the name wins.
GPU_PEAKS = [
    ("H100 PCIe", "H100 PCIe", 756.0),
    ("H100 NVL", "H100 NVL", 835.0),
    ("H100", "H100 SXM", 989.4),
    ("H200", "H200", 989.4),
    ("A100", "A100", 312.0),
]

DEFAULTS = {
    # CPU: small enough for a few minutes on 2 cores, same architecture. One torch thread:
    # 2 OpenMP threads beside another busy process wait at every barrier for a descheduled
    # thread (a step ran 40x slower).
    "cpu": dict(
        dim=192,
        depth=4,
        heads=4,
        length=32_768,
        batch=2,
        crop_bins=32,
        tracks=32,
        warmup=3,
        steps=10,
        rounds=2,
        threads=1,
        peak_sizes=(1024, 2048, 3072),
    ),
    # CUDA: configs/gpu.yaml (dim 1536, depth 11, heads 8, 196,608 bp, batch 4, crop 64);
    # 5,313 tracks as Enformer's human head.
    "cuda": dict(
        dim=1536,
        depth=11,
        heads=8,
        length=196_608,
        batch=4,
        crop_bins=64,
        tracks=5313,
        warmup=5,
        steps=20,
        rounds=1,
        threads=0,
        peak_sizes=(8192,),
    ),
    # --tiny: the CPU path on a model small enough to take seconds (dim / heads divisible by
    # 6 for enformer-pytorch)
    "tiny": dict(
        dim=48,
        depth=1,
        heads=2,
        length=4096,
        batch=1,
        crop_bins=4,
        tracks=4,
        warmup=1,
        steps=2,
        rounds=1,
        threads=1,
        peak_sizes=(256,),
        peak_reps=1,
    ),
}
LABELS = {
    "ours": "ours: convformer",
    "enformer": "enformer-pytorch",
    "conv": "ours: conv baseline",
}


# ---------------------------------------------------------------- worker (one subprocess)


def _cpu_busy_s() -> float | None:
    """CPU seconds all processes have used since boot (all cores), or None off Linux."""
    try:
        vals = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = sum(vals) - vals[3] - vals[4]  # total less idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


class _Load:
    """CPU use of *other* processes (cores) and load averages over a stretch of time."""

    def __enter__(self):
        self.load0 = os.getloadavg()[0]
        self.busy0, self.own0, self.t0 = _cpu_busy_s(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.t0
        busy1, own1 = _cpu_busy_s(), time.process_time()
        self.load1 = os.getloadavg()[0]
        self.others = None
        if self.busy0 is not None and busy1 is not None and wall > 0:
            self.others = max(0.0, (busy1 - self.busy0) - (own1 - self.own0)) / wall
        self.own_cores = (own1 - self.own0) / wall if wall > 0 else None


def _enformer_adapter(enformer):
    """enformer-pytorch behind our interface: ``(b, 4, l)`` in, ``(b, bins, t)`` out."""
    from einops import rearrange
    from torch import nn

    class EnformerAdapter(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.enformer = model

        def forward(self, x):
            # a view; enformer-pytorch rearranges back to (b, c, l) before its stem
            return self.enformer(rearrange(x, "b c l -> b l c"), head="human")

    return EnformerAdapter(enformer)


def _build(spec: dict):
    from genomics.models import build_model

    common = dict(dim=spec["dim"], stem_channels=spec["dim"] // 2, pool="attention")
    shared = dict(
        n_tracks=spec["tracks"],
        track_kinds=["coverage"] * spec["tracks"],
        bin_size=BIN,
        crop_bins=spec["crop_bins"],
    )
    if spec["model"] == "ours":
        return build_model(
            "convformer",
            **shared,
            **common,
            depth=spec["depth"],
            heads=spec["heads"],
            dropout=spec["dropout"],
            attn_dropout=spec["attn_dropout"],
        )
    if spec["model"] == "conv":
        return build_model(
            "conv", **shared, **common, dilated_layers=spec["depth"], dropout=spec["dropout"]
        )
    if importlib.util.find_spec("polars") is None:
        # enformer-pytorch's package __init__ imports its BED data loader, which imports
        # polars; the model never touches it. An empty stand-in lets the model import where
        # polars is absent (the offline GPU machine: its wheels are 55 MB, too big to carry).
        sys.modules["polars"] = types.ModuleType("polars")
    from enformer_pytorch import Enformer

    bins = spec["length"] // BIN
    enformer = Enformer.from_hparams(
        dim=spec["dim"],
        depth=spec["depth"],
        heads=spec["heads"],
        output_heads=dict(human=spec["tracks"]),
        target_length=bins - 2 * spec["crop_bins"],
        dim_divisible_by=ENFORMER_DIVISIBLE_BY,
        dropout_rate=spec["dropout"],
        attn_dropout=spec["attn_dropout"],
    )
    return _enformer_adapter(enformer)


def _measure_peak(spec: dict) -> dict:
    """Best matmul FLOP/s of torch here (a measured, not a datasheet, peak): fp32 on CPU,
    bf16 on CUDA (8192^3 products, each timed alone after a synchronize)."""
    import torch

    best = 0.0
    if spec["device"] == "cuda":
        (n,) = spec["peak_sizes"]
        a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(2))
        for _ in range(3):
            a @ b
        torch.cuda.synchronize()
        for _ in range(max(spec["peak_reps"], 10)):
            t0 = time.perf_counter()
            a @ b
            torch.cuda.synchronize()
            best = max(best, 2 * n**3 / (time.perf_counter() - t0))
        return {"peak_flops": best, "gpu": torch.cuda.get_device_name()}
    for n in spec["peak_sizes"]:
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(2):
            a @ b
        for _ in range(spec["peak_reps"]):
            t0 = time.perf_counter()
            a @ b
            best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return {"peak_flops": best, "threads": torch.get_num_threads()}


def _run_model(spec: dict) -> dict:
    import torch

    from genomics.inference.device import autocast, resolve_precision
    from genomics.inference.losses import track_loss
    from genomics.models import count_flops
    from genomics.train.fit import make_optimizer

    device = torch.device(spec["device"])
    dtype = resolve_precision(spec["precision"], device)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    torch.manual_seed(0)
    model = _build(spec)
    n_params = sum(p.numel() for p in model.parameters())
    out: dict = {"params": n_params, "batch": spec["batch"], "threads": torch.get_num_threads()}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    t0 = time.perf_counter()
    # On a copy: count_flops leaves meta tensors behind in a model that registers one
    # submodule under two names (enformer-pytorch's ``_trunk``), via torch's functional_call.
    counted = copy.deepcopy(model)
    out["flops"] = count_flops(counted, spec["length"], batch=spec["batch"])
    out["flops_fwd"] = count_flops(counted, spec["length"], batch=spec["batch"], backward=False)
    del counted
    out["count_s"] = time.perf_counter() - t0

    model.to(device).train()
    net = torch.compile(model) if spec["compile"] else model
    optimizer = make_optimizer(model, lr=5e-4, weight_decay=0.01, device=device)
    n_bins = spec["length"] // BIN - 2 * spec["crop_bins"]
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 4, (spec["batch"], spec["length"]), generator=g)
    x = torch.nn.functional.one_hot(idx, 4).float().transpose(1, 2).contiguous().to(device)
    y = torch.poisson(torch.full((spec["batch"], n_bins, spec["tracks"]), 2.0), generator=g)
    y = y.to(device)
    coverage = torch.ones(spec["tracks"], dtype=torch.bool, device=device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step() -> torch.Tensor:
        with autocast(device, dtype):
            pred = net(x)
        loss = track_loss(pred, y, coverage)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    with torch.no_grad():
        shape = tuple(model.eval()(x[:1]).shape)
    model.train()
    if shape != (1, n_bins, spec["tracks"]):
        raise RuntimeError(f"{spec['model']}: output shape {shape}, expected (1, {n_bins}, t)")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(spec["warmup"]):
        step()
    sync()
    out["warmup_s"] = time.perf_counter() - t0
    times = []
    with _Load() as load:
        for _ in range(spec["steps"]):
            sync()
            t0 = time.perf_counter()
            loss = step()
            sync()
            times.append(time.perf_counter() - t0)
    if not torch.isfinite(loss):
        raise RuntimeError(f"{spec['model']}: loss is {float(loss)}")
    out.update(
        times=times,
        loss=float(loss),
        others_cores=load.others,
        own_cores=load.own_cores,
        load=(load.load0, load.load1),
        rss_base_mib=rss0,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    if device.type == "cuda":
        out["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


def _worker(spec: dict) -> dict:
    if spec["threads"]:
        import torch

        torch.set_num_threads(spec["threads"])
    if spec["model"] == "peak":
        return _measure_peak(spec)
    try:
        return _run_model(spec)
    except Exception as e:  # reported in the table (e.g. CUDA out of memory), not a traceback
        if "out of memory" in str(e).lower():
            return {"error": f"out of memory at batch {spec['batch']}"}
        raise


def _spawn(spec: dict, timeout: float | None = None) -> dict:
    """Run one worker in a fresh interpreter; its last stdout line is its JSON result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"worker stopped after --worker-timeout {timeout:g} s"}
    if proc.returncode != 0:
        return {"error": f"worker failed (exit {proc.returncode}); see its traceback above"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report


def _gpu_peak(name: str, override: float | None) -> tuple[float | None, str]:
    if override:
        return override * 1e12, f"{override:g} TFLOP/s (given with --peak-tflops)"
    for key, label, tflops in GPU_PEAKS:
        if key in name:
            return tflops * 1e12, f"{tflops:g} TFLOP/s, datasheet bf16 dense peak of {label}"
    return None, f"unknown GPU {name!r}: no peak in the table; pass --peak-tflops"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _num(x: float) -> str:
    """Three significant digits, no exponent for the sizes in the table."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _fmt(v, spec: str = ".1f", none: str = "n/a") -> str:
    return none if v is None else format(v, spec)


def _report(args, results: dict, peaks: list[dict], load_run: tuple) -> None:
    import torch

    try:
        from importlib.metadata import version

        enf_version = version("enformer-pytorch")
    except Exception:
        enf_version = "not installed"
    cuda = args.device == "cuda"
    gpu = next((r[0]["gpu"] for r in results.values() if r and "gpu" in r[0]), None)
    measured = [p["peak_flops"] for p in peaks if "peak_flops" in p] or [0.0]
    best_measured = max(measured)
    if cuda:
        peak, peak_text = _gpu_peak(gpu or "", args.peak_tflops)
        peak_text += (
            f"; measured in this run: {best_measured / 1e12:.0f} TFLOP/s (best of >= 10 "
            "bf16 8192^3 matmuls, before and after the models)"
        )
    else:
        peak = best_measured or None
        peak_text = (
            f"{peak / 1e9:.0f} GFLOP/s fp32, MEASURED in this run (best {args.peak_reps}-of-N "
            f"torch matmul of n = {'-'.join(str(n) for n in args.peak_sizes[::2])}; start "
            f"{measured[0] / 1e9:.0f}, end "
            f"{measured[-1] / 1e9:.0f}); not a datasheet figure"
        )
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    threads = next((r[0]["threads"] for r in results.values() if r and "threads" in r[0]), "?")
    machine = (
        f"{gpu}" if cuda else f"{_cpu_name()}, {os.cpu_count()} cores, torch threads {threads}"
    )
    precision = "bf16 autocast" if cuda and args.precision != "fp32" else "fp32"
    cmd = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable), *sys.argv])
    print(f"\n### Training throughput, {args.device.upper()} ({now})\n")
    print(f"- machine: {machine}; torch {torch.__version__}; enformer-pytorch {enf_version}")
    print(f"- command: `{cmd}`")
    print(
        f"- setting: dim {args.dim}, depth {args.depth}, heads {args.heads}, "
        f"{args.length:,} bp, {BIN}-bp bins, crop {args.crop_bins} bins each end, "
        f"{args.tracks} Poisson tracks, batch {args.batch}, {precision}"
        f"{', torch.compile' if args.compile else ''}; dropout {args.dropout}, attention "
        f"dropout {args.attn_dropout}; {args.warmup} warm-up + {args.steps} timed steps x "
        f"{args.rounds} round(s), median step"
    )
    print(f"- peak for MFU: {peak_text}")
    print(
        "- FLOPs: genomics.models.count_flops for every model (FlopCounterMode on meta, "
        "forward + parameter-gradient backward; matmul/conv/attention only)"
    )
    mem_col = "peak GPU mem (GiB)" if cuda else "peak RSS (MiB)"
    print(
        f"\n| model | params (M) | batch | step (ms) | seq/s | GFLOP/step | {'TFLOP/s' if cuda else 'GFLOP/s'} "
        f"| MFU | {mem_col} "
        "| other procs' CPU (cores) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rates = {}
    for name, runs in results.items():
        bad = [r["error"] for r in runs if "error" in r]
        if bad or not runs:
            print(f"| {LABELS[name]} |" + " |" * 8 + f" {bad[0] if bad else 'not run'} |")
            continue
        times = [t for r in runs for t in r["times"]]
        med = statistics.median(times)
        r0 = runs[0]
        seq_s = r0["batch"] / med
        achieved = r0["flops"] / med
        rates[name] = (seq_s, achieved / peak if peak else None, r0["batch"] / min(times))
        mem = max(r["peak_mem_gib"] if cuda else r["peak_rss_mib"] for r in runs)
        others = [r["others_cores"] for r in runs if r["others_cores"] is not None]
        print(
            f"| {LABELS[name]} | {r0['params'] / 1e6:.1f} | {r0['batch']} | {med * 1e3:.0f} "
            f"| {seq_s:.2f} "
            f"| {_num(r0['flops'] / 1e9)} | {_num(achieved / (1e12 if cuda else 1e9))} "
            f"| {_fmt(rates[name][1] and 100 * rates[name][1], '.1f') + '%'} "
            f"| {mem:,.{1 if cuda else 0}f} | {_fmt(max(others) if others else None, '.2f')} |"
        )
    if "ours" in rates and "enformer" in rates:
        (s_o, m_o, b_o), (s_e, m_e, b_e) = rates["ours"], rates["enformer"]
        mfu = f"; MFU ours {100 * m_o:.1f}% vs {100 * m_e:.1f}%" if m_o and m_e else ""
        print(
            f"\n**ours / enformer-pytorch: {s_o / s_e:.2f}x sequences/s** (median step; "
            f"{b_o / b_e:.2f}x on the fastest step){mfu}"
        )
    if cuda and best_measured > 0:
        parts = []
        for name, (seq_s, _, _) in rates.items():
            per_seq = results[name][0]["flops"] / results[name][0]["batch"]
            parts.append(f"{LABELS[name]} {100 * seq_s * per_seq / best_measured:.1f}%")
        print(f"\nMFU against the measured bf16 matmul peak: {', '.join(parts)}")
    if cuda and "ours" in rates and peak:
        need = 37 * results["ours"][0]["flops"] / results["ours"][0]["batch"]
        against = f", {100 * need / best_measured:.0f}% of the measured" if best_measured else ""
        print(
            f"\nGoal: >= 37 seq/s for the Enformer-size model on one H100 ({need / 1e12:.0f} "
            f"TFLOP/s at ours' FLOPs, {100 * need / peak:.0f}% of the datasheet peak{against}); "
            f"ours here {rates['ours'][0]:.1f} seq/s."
        )
    print("\nLoad (1-min load average; our own worker adds about its thread count):")
    print(f"- whole run: {load_run[0]:.2f} at start, {load_run[1]:.2f} at end")
    for name, runs in results.items():
        parts = []
        for r in runs:
            if "error" in r:
                continue
            parts.append(
                f"load {r['load'][0]:.2f} -> {r['load'][1]:.2f}, ours {_fmt(r['own_cores'], '.2f')} "
                f"cores, others {_fmt(r['others_cores'], '.2f')} cores"
            )
        print(f"- {LABELS[name]}: " + "; ".join(parts))
    if not cuda:
        base = [r[0]["rss_base_mib"] for r in results.values() if r and "rss_base_mib" in r[0]]
        if base:
            print(
                f"\nPeak RSS includes about {min(base):.0f} MiB of interpreter and torch before "
                "the model is built."
            )
    print(
        "\nArchitectural differences left in (see the script's docstring): enformer-pytorch "
        "uses relative positional encodings (an extra (2l-1)-wide logits matmul, explicit "
        "softmax, no fused attention kernel) where ours uses RoPE + SDPA; its keys are "
        "64-wide per head (ours dim/heads); its MLP is ReLU (ours GELU); its pointwise block "
        "is BatchNorm + 1x1 conv (ours LayerNorm + Linear); GELU approximations differ."
    )


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    for key in ("dim", "depth", "heads", "length", "batch", "crop_bins", "tracks"):
        p.add_argument(f"--{key.replace('_', '-')}", type=int, help="default: per device")
    p.add_argument("--warmup", type=int, help="untimed steps first (default: per device)")
    p.add_argument("--steps", type=int, help="timed steps per round (default: per device)")
    p.add_argument("--rounds", type=int, help="rounds, alternating model order")
    p.add_argument("--compile", action="store_true", help="torch.compile each model")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    p.add_argument("--dropout", type=float, default=0.4, help="as Enformer and configs/gpu.yaml")
    p.add_argument("--attn-dropout", type=float, default=0.05)
    p.add_argument("--models", default="ours,enformer,conv", help="comma-separated subset")
    p.add_argument("--threads", type=int, help="torch threads (0: torch's default; CPU default 1)")
    p.add_argument("--peak-tflops", type=float, help="GPU peak to use for MFU (TFLOP/s)")
    p.add_argument("--peak-reps", type=int, help="CPU peak: timed matmuls per size (default 8)")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument(
        "--worker-timeout",
        type=float,
        help="seconds per model run (compile included); a slower one gets an error row",
    )
    p.add_argument(
        "--tiny", action="store_true", help="a tiny model on CPU, seconds (checks the script)"
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return
    if args.tiny:
        args.device = "cpu"
    for key, value in {"peak_reps": 8, **DEFAULTS["tiny" if args.tiny else args.device]}.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.device == "cuda":
        from genomics.inference.device import resolve_device

        try:
            resolve_device("cuda")  # no CUDA context in this process; workers make their own
        except ValueError as e:
            p.error(str(e))
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(LABELS))
    if unknown:
        p.error(f"unknown model(s) {unknown}; choose from {', '.join(LABELS)}")
    if "enformer" in models and args.tiny and importlib.util.find_spec("enformer_pytorch") is None:
        print("note: enformer-pytorch is not installed; --tiny skips its column")
        models.remove("enformer")
    if "enformer" in models:
        if importlib.util.find_spec("enformer_pytorch") is None:
            p.error(
                "enformer-pytorch is not installed in this interpreter; use bench/.venv "
                "(see the set-up in --help) or --models ours,conv"
            )
        if (args.dim // args.heads) % 6:
            p.error(
                f"enformer-pytorch needs dim / heads divisible by 6 (its relative position "
                f"features); dim {args.dim} / heads {args.heads} = {args.dim // args.heads}"
            )
    if args.length % BIN or args.length // BIN <= 2 * args.crop_bins:
        p.error(f"--length {args.length} must be a multiple of {BIN} leaving bins after the crop")

    base = {
        k: getattr(args, k)
        for k in (
            "device",
            "dim",
            "depth",
            "heads",
            "length",
            "batch",
            "crop_bins",
            "tracks",
            "warmup",
            "steps",
            "compile",
            "precision",
            "dropout",
            "attn_dropout",
            "threads",
            "peak_reps",
            "peak_sizes",
        )
    }
    load_start = os.getloadavg()[0]
    print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
    peaks = [_spawn({**base, "model": "peak"})]
    results: dict[str, list[dict]] = {m: [] for m in models}
    for r in range(args.rounds):
        for name in models if r % 2 == 0 else models[::-1]:
            t0 = time.perf_counter()
            batch = args.batch
            res = _spawn({**base, "model": name}, args.worker_timeout)
            while res.get("error", "").startswith("out of memory") and batch > 1:
                batch //= 2  # the batch that fits, for this model
                res = _spawn({**base, "model": name, "batch": batch}, args.worker_timeout)
            results[name].append(res)
            print(
                f"round {r + 1}/{args.rounds} {name}: {time.perf_counter() - t0:.0f} s"
                + (f" ({res['error']})" if "error" in res else ""),
                file=sys.stderr,
            )
    peaks.append(_spawn({**base, "model": "peak"}))
    load_run = (load_start, os.getloadavg()[0])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"args": base, "results": results, "peaks": peaks}, indent=1)
        )
    _report(args, results, peaks, load_run)


if __name__ == "__main__":
    main()
