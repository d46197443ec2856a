"""The benchmark's report: the Markdown table of Benchmarks/results/latest.md, from bench.py's rows.

Split from bench.py (which builds the models and measures); it only formats what was measured.
"""
from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
import subprocess


TOLERANCE = 1e-4  # largest |difference| allowed between engines' float32 probabilities


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


def render(rows, checks, args, fma_peak, int8_peak, peak_lines, load_before, load_after, elapsed, versions) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1e3:.3f}"

    def cell(times: list[float], batch: int) -> str:
        median = statistics.median(times)
        if batch == 1:
            return f"{ms(median)} / {ms(percentile(times, 0.9))}"
        return f"{ms(median)} ({batch / median:,.0f}/s)"

    def machine() -> str:
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                   platform.processor())
        return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "Sources"], capture_output=True, text=True).stdout
    lines = [
        "# cnnz against TensorFlow Lite and ONNX Runtime",
        "",
        f"- command: `{args.command}`{' (quick mode: fewer calls and models)' if args.quick else ''}",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, "
        f"cnnz {commit}{' with uncommitted changes in Sources' if dirty else ''}, run took {elapsed:.0f} s",
        f"- machine: {machine()}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        "(the machine is shared: other processes' work shows up as noise)",
        f"- this core's peak (`peak.c` at the start and the end, best of 40 loops, the wider vectors the CPU has): float32 FMA "
        f"{fma_peak / 1e9:.1f} GFLOP/s (256-bit {float(peak_lines['fma256_gflops']):.1f}, "
        f"512-bit {float(peak_lines['fma512_gflops']):.1f}; 0: no AVX-512), int8 {int8_peak / 1e9:.1f} GOP/s "
        f"(256-bit {float(peak_lines['int8_256_gops']):.1f} with {peak_lines['int8_instruction']}, "
        f"512-bit vpdpbusd {float(peak_lines['int8_512_gops']):.1f})",
        "- peers: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "- every engine called from Python on NumPy arrays (cnnz through bindings/python); `cnnz C` is the same "
        "library timed in a C loop (Benchmarks/peers/driver.c), without the binding",
        "",
        "## Agreement (float32, 8 images the calibration did not see)",
        "",
        f"Largest |difference| of each engine's probabilities from TFLite's; the run stops above {TOLERANCE:g}. "
        "Int8: share of the 8 images whose top-1 class is float32 TFLite's.",
        "",
        "| model | float32 max difference per engine | int8 top-1 agreement |",
        "| --- | --- | --- |",
    ]
    for name, worst, per_engine, top1 in checks:
        lines.append(f"| {name} | " + ", ".join(f"{k} {v:.1g}" for k, v in per_engine.items()) + " | "
                     + ", ".join(f"{k} {v:.0%}" for k, v in top1.items()) + " |")
    lines += [
        "",
        "## float32",
        "",
        "Batch 1: median / p90 ms per call. Batch 64: median ms per call (images per second). "
        "**cnnz / best** is cnnz's median divided by the best peer's (below 1: cnnz is faster); "
        "**C / best** the same for cnnz from C; **% peak**: cnnz's (from C) achieved GFLOP/s "
        "(2 × MACs × batch / median) over this core's FMA peak (the wider vectors) times the threads.",
        "",
    ]
    peer_names = [n for n in rows[0]["engines"] if n not in ("cnnz", "cnnz C") and not n.endswith(" int8")
                  and not n.startswith("cnnz int8")]
    header = ["model (MACs)", "batch", "threads", "cnnz", "cnnz C", *peer_names, "best peer", "cnnz / best",
              "C / best", "% peak"]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        e, batch = row["engines"], row["batch"]
        medians = {k: statistics.median(v) for k, v in e.items()}
        best = min(peer_names, key=lambda k: medians[k])
        flops = 2 * row["macs"] * batch / medians["cnnz C"]
        lines.append("| " + " | ".join([
            f"{row['model']} ({row['macs'] / 1e6:.2f} M)", str(batch), str(row["threads"]),
            cell(e["cnnz"], batch), cell(e["cnnz C"], batch), *(cell(e[k], batch) for k in peer_names), best,
            f"**{medians['cnnz'] / medians[best]:.2f}**", f"{medians['cnnz C'] / medians[best]:.2f}",
            f"{flops / (fma_peak * row['threads']):.1%}"]) + " |")
    int8_names = [n for n in rows[0]["engines"] if n.endswith(" int8") and n != "cnnz int8"]
    lines += [
        "",
        "## int8",
        "",
        "The peers' own post-training quantization of the same weights, with the same 32 calibration images: "
        "TFLite full-integer (float input and output, int8 inside), ONNX Runtime `quantize_static` per-channel "
        "(QDQ, uint8 activations, int8 weights); cnnz int8 is `convert --quantize int8` calibrated on the same "
        "images (from Python). **cnnz int8 / best int8** is cnnz's int8 median over the best int8 peer's "
        "(below 1: cnnz is faster; issue 15's bar is 0.8), **cnnz f32 / best int8** compares cnnz's float32 with the best int8 peer, "
        "**cnnz f32 / cnnz int8** cnnz's two precisions; **peer % peak**: the best int8 peer's achieved operations "
        "over this core's int8 peak times the threads. **cnnz int8 7-bit** is the same conversion with "
        "`--weight-bits 7` (Conv2D and Dense weights in -63...63), what docs/QUANTIZATION.md recommends on x86 "
        "CPUs with AVX2 but no VNNI, where it runs on exact `vpmaddubsw` kernels (elsewhere it runs as fast as "
        "8-bit); **7-bit / best int8** its median over the best int8 peer's.",
        "",
    ]
    header = ["model", "batch", "threads", *int8_names, "best int8 peer", "cnnz int8", "cnnz int8 / best int8",
              "cnnz int8 7-bit", "7-bit / best int8", "cnnz f32 / best int8",
              "cnnz f32 / cnnz int8", "peer % peak"]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        e, batch = row["engines"], row["batch"]
        medians = {k: statistics.median(v) for k, v in e.items()}
        best = min(int8_names, key=lambda k: medians[k])
        ops = 2 * row["macs"] * batch / medians[best]
        lines.append("| " + " | ".join([
            row["model"], str(batch), str(row["threads"]), *(cell(e[k], batch) for k in int8_names), best,
            cell(e["cnnz int8"], batch), f"**{medians['cnnz int8'] / medians[best]:.2f}**",
            cell(e["cnnz int8 7-bit"], batch), f"**{medians['cnnz int8 7-bit'] / medians[best]:.2f}**",
            f"{medians['cnnz'] / medians[best]:.2f}",
            f"{medians['cnnz'] / medians['cnnz int8']:.2f}",
            f"{ops / (int8_peak * row['threads']):.1%}"]) + " |")
    if any(2 * r["macs"] * r["batch"] / min(statistics.median(v) for k, v in r["engines"].items() if k in int8_names)
           > int8_peak * r["threads"] for r in rows):
        lines += ["", "A share of peak above 100 % means the peak probe was slowed by other work on the machine "
                  "(it measures the best of short loops, at the start and the end of the run)."]
    calls1 = len(rows[0]["engines"]["cnnz"]) if rows and rows[0]["batch"] == 1 else 0
    lines += ["", f"Batch 1: {calls1} timed calls per engine per cell after warm-up; batch 64: "
              f"{len(rows[-1]['engines']['cnnz']) if rows else 0}; calls alternate between engines in chunks.", ""]
    return "\n".join(lines)

