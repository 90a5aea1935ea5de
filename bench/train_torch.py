"""The PyTorch peer of `mien-train bench` (`make bench-train`).

Reads the JSON that `mien-train bench --json` wrote, rebuilds each measured network in
PyTorch from its saved spec (same stem, widths, blocks, strides, dropout, batch size,
float32, threads, loss and SGD settings), measures it with the same protocol (2 warm-up
training steps, then `steps` timed ones; eval: 1 warm-up then max(3, steps) batches;
batch 1: 1 warm-up then 20 runs), and prints both side by side with the ratio
mien / PyTorch. The parameter counts must match, or the script stops.

    python bench/train_torch.py results/bench-train-mien.json results/bench-train.json
"""

import json
import os
import platform
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBn(nn.Module):
    """Conv without bias + BatchNorm, as mien's `ConvBn`."""

    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.convs = nn.ModuleList([ConvBn(cin, cout, 3, stride), ConvBn(cout, cout, 3, 1)])
        self.down = ConvBn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = F.relu(self.convs[0](x))
        y = self.convs[1](y)
        return F.relu(y + (self.down(x) if self.down is not None else x))


class Net(nn.Module):
    """mien's `fer` architecture (src/train/model.rs) from its serialised ModelSpec."""

    def __init__(self, spec):
        super().__init__()
        if spec["arch"] != "fer":
            raise SystemExit(f"train_torch.py rebuilds the fer architecture only, not {spec['arch']}")
        self.stem = ConvBn(spec["channels"], spec["stem_width"], 3, 1)
        blocks, cin = [], spec["stem_width"]
        for width, n, stride in zip(spec["widths"], spec["blocks"], spec["strides"]):
            for b in range(n):
                blocks.append(Basic(cin, width, stride if b == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.dropout = spec["dropout"]
        self.fc = nn.Linear(cin, spec["num_classes"])

    def forward(self, x):
        y = self.blocks(F.relu(self.stem(x)))
        y = F.adaptive_avg_pool2d(y, 1).flatten(1)
        return self.fc(F.dropout(y, self.dropout, self.training))


def loss_fn(logits, targets, weights):
    """mien's `training::loss`: soft-target cross-entropy, weighted mean."""
    per_image = -(F.log_softmax(logits, -1) * targets).sum(-1)
    return (per_image * weights).sum() / weights.sum()


def matmul_peak(n):
    a, b = torch.randn(n, n), torch.randn(n, n)
    (a @ b)[0, 0].item()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        (a @ b)[0, 0].item()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def measure(spec, batch, steps, precision="f32"):
    torch.manual_seed(0)
    net = Net(spec)
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    decay = [p for p in net.parameters() if p.dim() > 1]
    no_decay = [p for p in net.parameters() if p.dim() <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
        lr=0.01,
        momentum=0.9,
        nesterov=True,
    )
    c, s, k = spec["channels"], spec["size"], spec["num_classes"]
    images = torch.randn(batch, c, s, s)
    targets = torch.full((batch, k), 1.0 / k)
    weights = torch.ones(batch)

    # mien's bf16 rows: bfloat16 convolutions, float32 master weights, channels-last,
    # which is what CPU autocast does.
    bf16 = precision == "bf16"
    if bf16:
        net = net.to(memory_format=torch.channels_last)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = net(images.to(memory_format=torch.channels_last) if bf16 else images)
        loss = loss_fn(logits.float(), targets, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()

    net.train()
    for _ in range(2):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    train_ips = steps * batch / (time.perf_counter() - t)

    net.eval()
    net = net.to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        net(images)[0, 0].item()
        reps = max(3, steps)
        t = time.perf_counter()
        for _ in range(reps):
            net(images)[0, 0].item()
        eval_ips = reps * batch / (time.perf_counter() - t)
        one = images[:1]
        net(one)[0, 0].item()
        t = time.perf_counter()
        for _ in range(20):
            net(one)[0, 0].item()
        b1_ms = (time.perf_counter() - t) * 1000 / 20
    return {"params": params, "train_images_per_second": train_ips, "eval_images_per_second": eval_ips, "batch1_ms_per_face": b1_ms}


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    mien = json.load(open(sys.argv[1]))
    threads = mien["threads"]
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    batch, steps = mien["batch_size"], mien["steps"]
    load_before = open("/proc/loadavg").read().split()[:3]
    peak = matmul_peak(mien["matmul_size"]) if mien.get("matmul_size", 0) > 0 else float("nan")
    rows = []
    for row in mien["rows"]:
        theirs = measure(row["spec"], batch, steps, row.get("precision", "f32"))
        if theirs["params"] != row["params"]:
            raise SystemExit(f"not the same network: PyTorch has {theirs['params']} parameters, mien {row['params']}")
        rows.append({"architecture": f'{row["architecture"]}, {row.get("precision", "f32")}', "macs": row["macs"], "params": row["params"], "mien": row, "pytorch": theirs})
    load_after = open("/proc/loadavg").read().split()[:3]

    cpu = mien["cpu"]
    print()
    print(f"Trainer throughput (training in float32 or bfloat16 as each row says; eval in float32), batch {batch}, {threads} threads, {steps} timed steps (2 warm-up); "
          f"mien = tch 0.24 / libtorch {torch.__version__.split('+')[0]}, PyTorch = torch {torch.__version__} (Python {platform.python_version()}), same libtorch build")
    print(f"Machine: {cpu['model']}, {cpu['cores']} cores; load average {mien['load_average']} (mien), {' '.join(load_before)} -> {' '.join(load_after)} (PyTorch)"
          f"; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"Theoretical FP32 peak: {cpu['theoretical_gflops_threads']:.1f} GFLOP/s on {cpu['threads_used']} cores "
          f"({cpu['mhz']:.0f} MHz x {cpu['f32_lanes']} lanes {cpu['simd']} x {2 if cpu['fma'] else 1} (FMA) x {cpu['fma_units']} FMA units, assumed)")
    print(f"Measured matmul peak ({mien['matmul_size']}^3 f32): mien/libtorch {mien['matmul_peak_gflops']:.1f} GFLOP/s, PyTorch {peak:.1f} GFLOP/s")
    print("Training FLOPs per image = 3 x forward (2 x MAC); inference = 2 x MAC.")
    print()
    head = ["architecture", "MMAC", "measure", "mien", "PyTorch", "mien/PyTorch", "mien GFLOP/s", "% matmul peak", "% theoretical"]
    lines = []
    for r in rows:
        m, p, macs = r["mien"], r["pytorch"], r["macs"]
        for label, key, flops in [("train img/s", "train_images_per_second", 6), ("eval img/s (batch)", "eval_images_per_second", 2), ("batch-1 ms/face", "batch1_ms_per_face", None)]:
            mine, theirs = m[key], p[key]
            if flops:
                g = mine * flops * macs / 1e9
                extra = [f"{g:.1f}", f"{100 * g / mien['matmul_peak_gflops']:.1f}%", f"{100 * g / cpu['theoretical_gflops_threads']:.1f}%"]
            else:
                extra = ["", "", ""]
            lines.append([r["architecture"] if label.startswith("train") else "", f"{macs / 1e6:.1f}" if label.startswith("train") else "", label, f"{mine:.1f}" if flops else f"{mine:.2f}", f"{theirs:.1f}" if flops else f"{theirs:.2f}", f"{mine / theirs:.2f}", *extra])
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    print(fmt(head))
    print("  ".join("-" * w for w in widths))
    for l in lines:
        print(fmt(l))
    print("(batch-1 ms: lower is better, so mien/PyTorch > 1 means mien is slower there)")

    doc = {
        "benchmark": "bench-train",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": os.environ.get("BENCH_QUICK", "0") not in ("", "0"),
        "threads": threads,
        "batch_size": batch,
        "steps": steps,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_mien": mien["load_average"],
        "load_average_pytorch": [load_before, load_after],
        "cpu": cpu,
        "matmul_size": mien["matmul_size"],
        "matmul_peak_gflops": {"mien": mien["matmul_peak_gflops"], "pytorch": peak},
        "rows": rows,
    }
    os.makedirs(os.path.dirname(sys.argv[2]) or ".", exist_ok=True)
    with open(sys.argv[2], "w") as f:
        json.dump(doc, f, indent=2)
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
