#!/usr/bin/env python3
"""Reference implementation of diffusion-core's "noise v1" in numpy (see core/src/noise.rs).

It reproduces the Rust generator bit for bit: the spec uses only float32 + - * / and bit
manipulation, which numpy (like every IEEE 754 implementation) rounds exactly.

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

    def normals(self, count):
        """One request of `count` standard normals (float32), bit for bit as core/src/noise.rs."""
        pairs = (count + 1) // 2
        words = self.next_u32(2 * pairs)
        a, b = words[0::2], words[1::2]
        out = np.empty(2 * pairs, dtype=np.float32)
        cos, sin = unit_circle(b)
        r = radius(a)
        out[0::2] = r * cos
        out[1::2] = r * sin
        return out[:count]


def f32(bits):
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


TWO_TO_MINUS_24, TWO_TO_MINUS_22 = f32(0x33800000), f32(0x34800000)
LN_2, HALF_PI, SQRT_2 = f32(0x3F317218), f32(0x3FC90FDB), f32(0x3FB504F3)
L = [f32(b) for b in (0x3F2AAAAB, 0x3ECCCCCD, 0x3E924925, 0x3E638E39)]
S = [f32(b) for b in (0xBE2AAAAB, 0x3C088889, 0xB9500D01, 0x3638EF1D, 0xB2D7322B, 0x2F309231)]
C = [f32(b) for b in (0xBF000000, 0x3D2AAAAB, 0xBAB60B61, 0x37D00D01, 0xB493F27E, 0x310F76C7, 0xAD49CBA5)]
ONE, TWO, HALF, MINUS_TWO = np.float32(1), np.float32(2), np.float32(0.5), np.float32(-2)
THREE_HALVES = np.float32(1.5)


def radius(a):
    """sqrt(-2 ln u1), u1 = ((a >> 8) + 1) * 2^-24, from float32 + - * / only."""
    u1 = ((a >> 8) + 1).astype(np.float32) * TWO_TO_MINUS_24
    bits = u1.view(np.uint32)
    mantissa = ((bits & 0x007FFFFF) | 0x3F800000).view(np.float32)
    exponent = (bits >> 23).astype(np.int32) - 127
    high = mantissa > SQRT_2
    mantissa = np.where(high, mantissa * HALF, mantissa)
    exponent = exponent + high.astype(np.int32)
    s = (mantissa - ONE) / (mantissa + ONE)
    w = s * s
    log_mantissa = s * (TWO + w * (L[0] + w * (L[1] + w * (L[2] + w * L[3]))))
    return square_root(MINUS_TWO * (exponent.astype(np.float32) * LN_2 + log_mantissa))


def square_root(x):
    """sqrt(x) from the bit-level 1/sqrt estimate and three Newton steps, as the spec says."""
    half = HALF * x
    y = (np.uint32(0x5F3759DF) - (x.view(np.uint32) >> 1)).view(np.float32)
    for _ in range(3):
        y = y * (THREE_HALVES - (half * y) * y)
    return x * y


def unit_circle(b):
    """(cos, sin) of 2*pi*(b >> 8)*2^-24 by quadrant and Taylor polynomials on [0, pi/2)."""
    quadrant = b >> 30
    phi = ((b >> 8) & 0x003FFFFF).astype(np.float32) * TWO_TO_MINUS_22 * HALF_PI
    p = phi * phi
    sin_tail = S[0] + p * (S[1] + p * (S[2] + p * (S[3] + p * (S[4] + p * S[5]))))
    sin = phi + (phi * p) * sin_tail
    cos = ONE + p * (C[0] + p * (C[1] + p * (C[2] + p * (C[3] + p * (C[4] + p * (C[5] + p * C[6]))))))
    odd = (quadrant & 1) == 1
    cos, sin = np.where(odd, sin, cos), np.where(odd, cos, sin)
    cos = np.where((quadrant == 1) | (quadrant == 2), -cos, cos)
    sin = np.where(quadrant >= 2, -sin, sin)
    return cos, sin


def normals(seed, sample_index, count):
    return NoiseStream(seed, sample_index).normals(count)


if __name__ == "__main__":
    stream = NoiseStream(0, 0)
    print("seed 0, sample 0, first u32:", ", ".join(f"0x{w:08X}" for w in stream.next_u32(3)))
    for seed, index in [(0, 0), (42, 7)]:
        values = normals(seed, index, 5)
        print(f"seed {seed}, sample {index}, first normals:", values.tolist(),
              "bits:", ", ".join(f"0x{v:08X}" for v in values.view(np.uint32)))
