#!/usr/bin/env python3
"""Turns the digits firmware's semihosting output into a PNG: one 8x8 grid of digits per run
(DDIM 20 steps, DPM-Solver++ 2M 10 steps), side by side, each pixel scaled up 4x; a value v in
[-1, 1] becomes the grey level round((v + 1)/2 · 255), clamped (as host's pictures). numpy + PIL.

    (cd firmware-digits && cargo run --release --features grid) > board.txt
    python3 firmware-digits/draw_grid.py board.txt firmware-digits/grid.png
"""
import os
import struct
import sys

import numpy as np
from PIL import Image

SCALE, GAP = 4, 2


def parse(lines):
    """{run: {index: [8, 8] float32}} from the `digit <run> <index> <64 hex words>` lines."""
    runs = {}
    for line in lines:
        fields = line.split()
        if len(fields) != 4 or fields[0] != "digit":
            continue
        run, index, words = fields[1], int(fields[2]), fields[3]
        if len(words) != 64 * 8:
            sys.exit(f"digit {run} {index}: expected 512 hex characters, got {len(words)}")
        values = [struct.unpack("<f", struct.pack("<I", int(words[i:i + 8], 16)))[0] for i in range(0, 512, 8)]
        runs.setdefault(run, {})[index] = np.array(values, dtype=np.float32).reshape(8, 8)
    return runs


def grid(digits, columns=8):
    count = len(digits)
    rows = (count + columns - 1) // columns
    cell = 8 * SCALE + GAP
    canvas = np.full((rows * cell + GAP, columns * cell + GAP), 255, dtype=np.uint8)
    for position, index in enumerate(sorted(digits)):
        grey = np.clip(np.round((digits[index] + 1.0) * 127.5), 0, 255).astype(np.uint8)
        tile = np.kron(grey, np.ones((SCALE, SCALE), dtype=np.uint8))
        r, c = divmod(position, columns)
        canvas[GAP + r * cell:GAP + r * cell + 8 * SCALE, GAP + c * cell:GAP + c * cell + 8 * SCALE] = tile
    return canvas


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: draw_grid.py BOARD_OUTPUT.txt OUT.png")
    with open(sys.argv[1]) as f:
        runs = parse(f)
    if not runs:
        sys.exit(f"{sys.argv[1]}: no `digit` lines (is it the firmware's output?)")
    grids = [grid(digits) for _, digits in sorted(runs.items())]
    height = max(g.shape[0] for g in grids)
    padded = [np.pad(g, ((0, height - g.shape[0]), (0, 8 * SCALE)), constant_values=255) for g in grids]
    image = Image.fromarray(np.concatenate(padded, axis=1)[:, :-8 * SCALE])
    temporary = sys.argv[2] + ".partial.png"
    image.save(temporary)
    os.replace(temporary, sys.argv[2])
    print(f"wrote {sys.argv[2]}: " + ", ".join(f"{name} ({len(d)} digits)" for name, d in sorted(runs.items())))


if __name__ == "__main__":
    main()
