#!/usr/bin/env python3
"""Reference implementation of diffusion-core's "noise v1" in numpy (see core/src/noise.rs).

    python3 tests/noise/noise_v1.py            # prints the test vectors
    from noise_v1 import normals               # normals(seed, sample_index, count) -> float32 array

Feed the result to diffusers to reproduce a Rust run: x_T for sample i is normals(seed, i, n)[:n],
and each noisy step's `variance_noise` is the next n values of the same stream (draw them with
`NoiseStream(seed, i).normals(n)` in order).
"""
import numpy as np

MASK = (1 << 64) - 1
PCG_MULTIPLIER = 6364136223846793005
GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def splitmix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class NoiseStream:
    """Pcg32 (PCG-XSH-RR 64/32) seeded as noise v1 prescribes for (seed, sample_index)."""

    def __init__(self, seed, sample_index):
        state = splitmix64((seed + (sample_index + 1) * GOLDEN_GAMMA) & MASK)
        self.increment = ((sample_index << 1) | 1) & MASK
        # rand_pcg's Pcg32::new: state += increment, then one LCG step.
        self.state = (((state + self.increment) & MASK) * PCG_MULTIPLIER + self.increment) & MASK

    def next_u32(self, count):
        """The next `count` outputs as uint32 (plain Python ints for exactness, then an array)."""
        out = np.empty(count, dtype=np.uint32)
        state, increment = self.state, self.increment
        for k in range(count):
            rot = state >> 59
            xsh = (((state >> 18) ^ state) >> 27) & 0xFFFFFFFF
            out[k] = ((xsh >> rot) | (xsh << ((32 - rot) & 31))) & 0xFFFFFFFF
            state = (state * PCG_MULTIPLIER + increment) & MASK
        self.state = state
        return out

    def uniforms(self, pairs):
        words = self.next_u32(2 * pairs)
        scale = np.float32(2.0 ** -24)
        u1 = ((words[0::2] >> 8) + 1).astype(np.float32) * scale
        u2 = (words[1::2] >> 8).astype(np.float32) * scale
        return u1, u2

    def normals(self, count):
        """One request of `count` standard normals (float32), Box-Muller in float32."""
        pairs = (count + 1) // 2
        u1, u2 = self.uniforms(pairs)
        radius = np.sqrt(np.float32(-2.0) * np.log(u1))
        theta = np.float32(2.0 * np.pi) * u2
        out = np.empty(2 * pairs, dtype=np.float32)
        out[0::2] = radius * np.cos(theta)
        out[1::2] = radius * np.sin(theta)
        return out[:count]


def normals(seed, sample_index, count):
    return NoiseStream(seed, sample_index).normals(count)


if __name__ == "__main__":
    stream = NoiseStream(0, 0)
    print("seed 0, sample 0, first u32:", ", ".join(f"0x{w:08X}" for w in stream.next_u32(3)))
    for seed, index in [(0, 0), (42, 7)]:
        values = normals(seed, index, 5)
        print(f"seed {seed}, sample {index}, first normals:", values.tolist(),
              "bits:", ", ".join(f"0x{v:08X}" for v in values.view(np.uint32)))
