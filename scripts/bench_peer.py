#!/usr/bin/env python3
"""host vs the Python diffusers loop vs the ONNX Runtime floor, in one invocation (run through
scripts/bench-peer; ONLY=Gaussian keeps the rows whose model name contains "Gaussian", and
SAMPLERS=dpm-solver those of that sampler: ddim, ddpm or dpm-solver, comma-separated). For every
(model, batch, sampler) it alternates REPEATS runs of each — the peer (scripts/peer_loop.py),
host, and ort-floor (the same session called as often on the same inputs, nothing else) — each a
fresh process on 2 intra-op threads, and prints medians:

  peer/host   how much faster host is than the Python loop (wall per step; median of the ratios
              of runs made one after the other)
  host/floor  host's wall per step over the bare model call (1.00 = no overhead), the median of
              the ratios of runs made one after the other
  model%, sampler%  host's split of its wall time
  RSS         whole-process peak resident size (/usr/bin/time), host and peer
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PYTHON = sys.executable
HOST = os.path.join(ROOT, "target", "release", "host")
FLOOR = os.path.join(ROOT, "target", "release", "ort-floor")
REPEATS = int(os.environ.get("REPEATS", "5"))
ONLY = os.environ.get("ONLY", "")  # run only the models whose name contains this
SAMPLERS = [name for name in os.environ.get("SAMPLERS", "").split(",") if name]  # and these samplers
THREADS = 2


def timed(command):
    """Runs command under /usr/bin/time; returns (stdout, peak RSS in MiB)."""
    result = subprocess.run(["/usr/bin/time", "-f", "RSS_KB %M", *command], capture_output=True, text=True, check=True)
    rss = int(re.search(r"RSS_KB (\d+)", result.stderr).group(1)) / 1024
    return result.stdout, rss


def peer(model, scheduler, steps, batch, size):
    command = [PYTHON, os.path.join(ROOT, "scripts", "peer_loop.py"), model, "--scheduler", scheduler,
               "--steps", str(steps), "--batch", str(batch), "--threads", str(THREADS)]
    if size:
        command += ["--sample-size", str(size)]
    out, rss = timed(command)
    row = json.loads(out.strip().splitlines()[-1])
    return row["wall_ms_per_step"], row["run_ms_per_step"], rss


def host(model, scheduler, steps, batch, size, directory):
    command = [HOST, "--onnx", model, "--scheduler", scheduler, "--steps", str(steps), "--num-samples", str(batch),
               "--batch", str(batch), "--threads", str(THREADS), "--ep", "cpu",
               "--save-npy", os.path.join(directory, "x.npy")]
    if size:
        command += ["--sample-size", str(size)]
    out, rss = timed(command)
    sampling = float(re.search(r"sampling ([\d.]+) ms", out).group(1))
    model_ms = float(re.search(r"model ([\d.]+) ms", out).group(1))
    sampler_ms = float(re.search(r"sampler ([\d.]+) µs", out).group(1)) / 1e3
    return sampling / steps, model_ms, sampler_ms, rss


def floor(model, steps, batch, size):
    command = [FLOOR, "--onnx", model, "--steps", str(steps), "--batch", str(batch), "--threads", str(THREADS)]
    if size:
        command += ["--sample-size", str(size)]
    out, _ = timed(command)
    return float(re.search(r"([\d.]+) ms per call", out).group(1))


def main():
    models = [
        ("default (digits 1x8x8)", os.path.join(ROOT, "models", "digits", "unet.onnx"), None),
        ("diffusers UNet2DModel 3x32x32", os.path.join(ROOT, ".bench", "unet32", "unet.onnx"), None),
        ("analytic Gaussian 3x32x32", os.path.join(ROOT, "tests", "fixtures", "gaussian", "unet.onnx"), None),
    ]
    # DPM-Solver++ 2M (DPMSolverMultistepScheduler's defaults) at 10 steps: the fast sampler at the
    # step count it is used with.
    configs = [("ddim", 25, 1), ("ddim", 25, 16), ("ddpm", 100, 1), ("ddpm", 100, 16),
               ("dpm-solver", 10, 1), ("dpm-solver", 10, 16)]
    configs = [c for c in configs if not SAMPLERS or c[0] in SAMPLERS]
    label = {"ddim": "DDIM", "ddpm": "DDPM", "dpm-solver": "DPM-Solver++ 2M"}
    print(f"medians of {REPEATS} alternating runs, {THREADS} intra-op threads, ONNX Runtime 1.31.1 CPU")
    print("| model | sampler | batch | peer ms/step | host ms/step | peer/host | floor ms/call | host/floor "
          "| host model % | host sampler % | host sampler µs/step | RSS host / peer (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        for name, model, size in models:
            if ONLY not in name:
                continue
            if not os.path.exists(model):
                print(f"| {name} | (missing: {model}) |")
                continue
            for scheduler, steps, batch in configs:
                peers, hosts, floors = [], [], []
                for _ in range(REPEATS):
                    peers.append(peer(model, scheduler, steps, batch, size))
                    hosts.append(host(model, scheduler, steps, batch, size, directory))
                    floors.append(floor(model, steps, batch, size))
                peer_wall = statistics.median(p[0] for p in peers)
                host_wall = statistics.median(h[0] for h in hosts)
                host_model = statistics.median(h[1] for h in hosts)
                host_sampler = statistics.median(h[2] for h in hosts)
                floor_ms = statistics.median(floors)
                # Each host run is paired with the floor run next to it in time, so slow drifts of
                # this shared machine cancel; the median of those ratios is what the table shows.
                host_over_floor = statistics.median(h[0] / f for h, f in zip(hosts, floors))
                peer_over_host = statistics.median(p[0] / h[0] for p, h in zip(peers, hosts))
                print(f"| {name} | {label[scheduler]} {steps} | {batch} | {peer_wall:.3f} | {host_wall:.3f} "
                      f"| {peer_over_host:.2f}x | {floor_ms:.3f} | {host_over_floor:.3f} "
                      f"| {100 * host_model / host_wall:.1f} | {100 * host_sampler / host_wall:.1f} "
                      f"| {1e3 * host_sampler:.1f} | {statistics.median(h[3] for h in hosts):.0f} / "
                      f"{statistics.median(p[2] for p in peers):.0f} |", flush=True)


if __name__ == "__main__":
    main()
