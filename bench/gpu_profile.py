"""Where a training step of the Enformer-size convformer spends its time, part by part.

The 2026-12-04 H200 run (bench/RESULTS.md) reached 26.3 seq/s against a goal of 37, with
75% of the FLOPs in the conv tower. This script says which part to work on and whether
cuDNN's autotuner (``torch.backends.cudnn.benchmark``, off in ``genomics train`` so far)
helps the long 1D convolutions:

1. **Parts.** One eager forward pass records the input of every part: the stem, each tower
   stage, each transformer block and the head (after the crop). Each part then runs alone,
   forward and backward (input and parameter gradients) under the step's autocast, timed
   with CUDA events (the median of ``--reps``), with cuDNN's autotuner off and on. FLOPs per
   part come from :func:`genomics.models.count_flops`'s counter on the meta device; achieved
   TFLOP/s and the share of the sum of parts are printed beside them.
2. **Kernels.** ``torch.profiler`` over ``--profile-steps`` whole eager training steps
   (forward, backward, AdamW), the top kernels by device time, and the device time of
   convolutions, matmuls/attention, normalisation and elementwise kernels, by name.

Sizes are those of ``bench/train_throughput.py`` (``--device cuda``: dim 1536, depth 11,
196,608 bp, batch 4, 5,313 tracks; ``--device cpu``: a small model, to check the script).

    python bench/gpu_profile.py --device cuda --json $OUT/profile.json > $OUT/profile.md
    python bench/gpu_profile.py --device cpu    # the same tables, small, on CPU (~1 min)
    python bench/gpu_profile.py --tiny          # the same tables, tiny, on CPU (seconds)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput as tt  # noqa: E402  (the bench's model sizes and builder)

from genomics.inference.device import autocast, resolve_precision  # noqa: E402

# kernel-name fragments -> category (first match wins), for the device-time split
CATEGORIES = [
    ("convolution", ("conv", "implicit_gemm", "cudnn", "xmma_fprop", "dgrad", "wgrad")),
    ("attention", ("flash", "fmha", "attention", "sdpa")),
    ("matmul", ("gemm", "sm90_xmma", "cutlass", "matmul", "addmm", "mm_")),
    ("normalisation", ("batch_norm", "bn_", "layer_norm", "norm")),
    ("optimizer", ("adam", "multi_tensor", "foreach")),
]


def parts_of(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The convformer's parts in order: stem, tower stages, transformer blocks, head."""
    parts = [("stem", model.tower.stem)]
    parts += [(f"stage {i}", s) for i, s in enumerate(model.tower.stages)]
    parts += [(f"block {i}", b) for i, b in enumerate(model.blocks)]
    parts.append(("head", model.head))
    return parts


def record_inputs(model, parts, x, device, dtype) -> dict[str, tuple]:
    """Each part's positional inputs in one eager forward pass (detached)."""
    seen: dict[str, tuple] = {}
    hooks = [
        m.register_forward_pre_hook(
            lambda _m, args, name=name: seen.setdefault(
                name, tuple(a.detach() if torch.is_tensor(a) else a for a in args)
            )
        )
        for name, m in parts
    ]
    try:
        with torch.no_grad(), autocast(device, dtype):
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def part_flops(module, args, input_grad: bool) -> int:
    """Forward + backward (parameter and, with ``input_grad``, input gradients) FLOPs of
    one part, on meta."""
    params = {
        n: torch.empty_like(p, device="meta").requires_grad_(True)
        for n, p in module.named_parameters()
    }
    buffers = {n: torch.empty_like(b, device="meta") for n, b in module.named_buffers()}
    meta_args = [
        torch.empty_like(a, device="meta").requires_grad_(input_grad and i == 0)
        if torch.is_tensor(a)
        else a
        for i, a in enumerate(args)
    ]
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        out = functional_call(module, (params, buffers), tuple(meta_args))
        out.float().sum().backward()  # autograd.grad on an input leaf trips the counter
    return int(counter.get_total_flops())


def time_part(module, args, device, dtype, reps: int, input_grad: bool, warmup: int = 3) -> float:
    """Median seconds of forward + backward of one part on its recorded inputs."""
    x0 = args[0].clone().requires_grad_(input_grad)
    rest = args[1:]
    grad = None

    def once():
        nonlocal grad
        with autocast(device, dtype):
            out = module(x0, *rest)
        if grad is None:
            grad = torch.randn_like(out)
        out.backward(grad)

    for _ in range(warmup):
        once()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            once()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            once()
            times.append(time.perf_counter() - t0)
    module.zero_grad(set_to_none=True)
    return statistics.median(times)


def category(name: str) -> str:
    low = name.lower()
    for cat, keys in CATEGORIES:
        if any(k in low for k in keys):
            return cat
    return "elementwise / other"


def kernel_profile(model, x, y, coverage, device, dtype, steps: int) -> tuple[str, dict]:
    """Top kernels of whole training steps, and device time per category (ms per step)."""
    from torch.profiler import ProfilerActivity, profile

    from genomics.inference.losses import track_loss
    from genomics.train.fit import make_optimizer

    optimizer = make_optimizer(model, lr=5e-4, weight_decay=0.01, device=device)

    def step():
        with autocast(device, dtype):
            pred = model(x)
        track_loss(pred, y, coverage).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    sort = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort, row_limit=25, max_name_column_width=70)
    split: dict[str, float] = {}
    for e in prof.key_averages():
        t = e.self_device_time_total if device.type == "cuda" else e.self_cpu_time_total
        if device.type == "cuda" and e.device_type.name != "CUDA":
            continue
        split[category(e.key)] = split.get(category(e.key), 0.0) + t / 1e3 / steps
    return table, split


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--batch", type=int, help="default: as bench/train_throughput.py")
    p.add_argument("--reps", type=int, default=10, help="timed runs per part")
    p.add_argument("--profile-steps", type=int, default=3)
    p.add_argument("--json", type=Path, help="also write the raw figures here")
    p.add_argument(
        "--tiny",
        action="store_true",
        help="bench/train_throughput.py's tiny model on CPU, one rep (checks the script)",
    )
    args = p.parse_args(argv)
    if args.tiny:
        args.device, args.reps, args.profile_steps = "cpu", 1, 1
    sizes = tt.DEFAULTS["tiny" if args.tiny else args.device]
    spec = dict(sizes, model="ours", device=args.device)
    spec.update(dropout=0.4, attn_dropout=0.05, precision="auto")
    if args.batch:
        spec["batch"] = args.batch
    if args.device == "cpu":
        torch.set_num_threads(1)
    device = torch.device(args.device)
    dtype = resolve_precision("auto", device)
    torch.manual_seed(0)
    model = tt._build(spec).to(device).train()
    parts = parts_of(model)
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 4, (spec["batch"], spec["length"]), generator=g)
    x = torch.nn.functional.one_hot(idx, 4).float().transpose(1, 2).contiguous().to(device)
    inputs = record_inputs(model, parts, x, device, dtype)

    rows = []
    for name, module in parts:
        a = inputs[name]
        input_grad = name != "stem"  # the one-hot input gets no gradient in training
        row = {"part": name, "input": list(a[0].shape), "flops": part_flops(module, a, input_grad)}
        for bench in (False, True):
            torch.backends.cudnn.benchmark = bench
            row[f"s_benchmark_{'on' if bench else 'off'}"] = time_part(
                module, a, device, dtype, args.reps, input_grad
            )
        rows.append(row)
    torch.backends.cudnn.benchmark = False

    unit, scale = ("TFLOP/s", 1e12) if args.device == "cuda" else ("GFLOP/s", 1e9)
    totals = {k: sum(r[f"s_benchmark_{k}"] for r in rows) for k in ("off", "on")}
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU, 1 thread"
    print(f"### Step time by part: {name}, torch {torch.__version__}\n")
    print(
        f"dim {spec['dim']}, depth {spec['depth']}, {spec['length']:,} bp, batch "
        f"{spec['batch']}, {spec['tracks']} tracks, {dtype}; each part alone, forward + "
        f"backward on its recorded input, median of {args.reps}; eager\n"
    )
    print(
        f"| part | input | GFLOP | ms (cudnn.benchmark off) | {unit} | share | "
        f"ms (benchmark on) | {unit} |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        off, on = r["s_benchmark_off"], r["s_benchmark_on"]
        print(
            f"| {r['part']} | {'x'.join(map(str, r['input']))} | {r['flops'] / 1e9:,.0f} "
            f"| {off * 1e3:.2f} | {r['flops'] / off / scale:.0f} | "
            f"{100 * off / totals['off']:.1f}% | {on * 1e3:.2f} | {r['flops'] / on / scale:.0f} |"
        )
    flops = sum(r["flops"] for r in rows)
    print(
        f"| **sum of parts** | | {flops / 1e9:,.0f} | {totals['off'] * 1e3:.1f} | "
        f"{flops / totals['off'] / scale:.0f} | 100% | {totals['on'] * 1e3:.1f} | "
        f"{flops / totals['on'] / scale:.0f} |"
    )
    print(
        f"\nSequences/s these parts allow (no optimizer, no loss): benchmark off "
        f"{spec['batch'] / totals['off']:.1f}, on {spec['batch'] / totals['on']:.1f}\n"
    )

    n_bins = spec["length"] // tt.BIN - 2 * spec["crop_bins"]
    y = torch.poisson(torch.full((spec["batch"], n_bins, spec["tracks"]), 2.0), generator=g)
    coverage = torch.ones(spec["tracks"], dtype=torch.bool, device=device)
    table, split = kernel_profile(
        model, x, y.to(device), coverage, device, dtype, args.profile_steps
    )
    total = sum(split.values())
    print("### Device time per whole training step by kernel kind (eager, benchmark off)\n")
    print("| kind | ms per step | share |\n|---|---:|---:|")
    for cat, ms in sorted(split.items(), key=lambda kv: -kv[1]):
        print(f"| {cat} | {ms:.1f} | {100 * ms / total:.1f}% |")
    print(f"| **all** | {total:.1f} | 100% |\n")
    print("Top kernels (torch.profiler, self time):\n")
    print("```\n" + table + "\n```")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"spec": spec, "parts": rows, "kinds_ms": split}, indent=1))


if __name__ == "__main__":
    main()
