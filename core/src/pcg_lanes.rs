//! [`rand_pcg::Pcg32`]'s words, [`LANES`] at a time, by jumping the LCG ahead.
//!
//! PCG32 steps one 64-bit LCG, `sₙ₊₁ = a·sₙ + c (mod 2⁶⁴)`, and outputs `XSH-RR(sₙ)`. Each word
//! waits for the multiply of the one before it (4 cycles on x86_64), which caps one stream at
//! about 650 M words/s however cheap the rest of the work is. The same sequence splits into
//! `K = LANES` interleaved lanes: lane k holds `s_{n+k}` and moves with
//!
//! ```text
//! s_{n+K} = a^K · s_n + c·(1 + a + … + a^{K−1})      (mod 2⁶⁴)
//! ```
//!
//! so the K multiplies of a group are independent, and the words come out in the original order,
//! bit for bit (the module's test compares with `Pcg32::next_u32`).

use rand_pcg::Pcg32;

/// Words produced per group: lane k gives word n + k.
pub(crate) const LANES: usize = 8;

/// PCG32's LCG multiplier `a`.
const MULTIPLIER: u64 = 6_364_136_223_846_793_005;

/// `(a^k, 1 + a + … + a^{k−1})` for k = 0..=LANES: state n + k = `a^k·sₙ + c·sum`.
const JUMPS: [(u64, u64); LANES + 1] = {
    let mut jumps = [(1u64, 0u64); LANES + 1];
    let mut k = 1;
    while k <= LANES {
        let (power, sum) = jumps[k - 1];
        jumps[k] = (
            power.wrapping_mul(MULTIPLIER),
            sum.wrapping_mul(MULTIPLIER).wrapping_add(1),
        );
        k += 1;
    }
    jumps
};

/// PCG's XSH-RR output of a 64-bit state: `rotr32(((s ≫ 18) ⊕ s) ≫ 27, s ≫ 59)`.
#[inline(always)]
fn output(state: u64) -> u32 {
    let rotation = (state >> 59) as u32;
    let xorshifted = (((state >> 18) ^ state) >> 27) as u32;
    xorshifted.rotate_right(rotation)
}

/// The states of words n … n + LANES − 1 of one PCG32 stream.
pub(crate) struct WordLanes {
    states: [u64; LANES],
    /// `c·(1 + a + … + a^{LANES−1})`: what a group step adds.
    group_increment: u64,
}

impl WordLanes {
    /// Lanes starting at `generator`'s next word.
    #[inline(always)]
    pub(crate) fn new(generator: &Pcg32) -> Self {
        let state = generator.state();
        let increment = increment(generator);
        let states = core::array::from_fn(|k| {
            let (power, sum) = JUMPS[k];
            power
                .wrapping_mul(state)
                .wrapping_add(sum.wrapping_mul(increment))
        });
        WordLanes {
            states,
            group_increment: JUMPS[LANES].1.wrapping_mul(increment),
        }
    }

    /// Words n … n + LANES − 1 (without moving).
    #[inline(always)]
    pub(crate) fn words(&self) -> [u32; LANES] {
        self.states.map(output)
    }

    /// Moves every lane LANES words ahead.
    #[inline(always)]
    pub(crate) fn advance(&mut self) {
        let power = JUMPS[LANES].0;
        for state in &mut self.states {
            *state = state.wrapping_mul(power).wrapping_add(self.group_increment);
        }
    }

    /// The generator whose next word is word n + `offset` (`offset < LANES`), on `stream`.
    #[inline(always)]
    pub(crate) fn generator_at(&self, offset: usize, stream: u64) -> Pcg32 {
        Pcg32::from_state(self.states[offset % LANES], stream)
    }
}

/// The LCG increment c of `generator` (always odd): `2·stream + 1`.
#[inline(always)]
fn increment(generator: &Pcg32) -> u64 {
    (generator.stream() << 1) | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn lanes_reproduce_pcg32_word_for_word() {
        for (state, stream) in [(0u64, 0u64), (0xDEAD_BEEF, 7), (u64::MAX, (1 << 63) - 1)] {
            let mut reference = Pcg32::new(state, stream);
            let mut lanes = WordLanes::new(&reference);
            for _ in 0..5 {
                let expected: [u32; LANES] = core::array::from_fn(|_| reference.next_u32());
                assert_eq!(lanes.words(), expected);
                lanes.advance();
            }
            for offset in 0..LANES {
                let mut resumed = lanes.generator_at(offset, reference.stream());
                let mut skipped = reference.clone();
                for _ in 0..offset {
                    skipped.next_u32();
                }
                assert_eq!(resumed.next_u32(), skipped.next_u32(), "offset {offset}");
                assert_eq!(resumed.state(), skipped.state());
            }
        }
    }
}
