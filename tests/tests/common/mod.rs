//! What the property tests share: proptest's configuration.

use proptest::test_runner::{Config as ProptestConfig, RngSeed};

/// proptest's configuration for CI: `cases` cases drawn from the fixed `seed`, so every run checks
/// the same cases and CI fails on a change of the code, never on a lucky draw; and no failure file
/// (proptest's default writes `*.proptest-regressions` into the source tree). `PROPTEST_CASES` and
/// `PROPTEST_RNG_SEED` override both for a deep local run, e.g.
/// `PROPTEST_CASES=100000 PROPTEST_RNG_SEED=7 cargo test --release -p tests --test properties`.
pub fn proptest_config(seed: u64, cases: u32) -> ProptestConfig {
    let from_environment = ProptestConfig::default();
    let set = |name: &str| std::env::var_os(name).is_some();
    ProptestConfig {
        cases: if set("PROPTEST_CASES") {
            from_environment.cases
        } else {
            cases
        },
        rng_seed: if set("PROPTEST_RNG_SEED") {
            from_environment.rng_seed
        } else {
            RngSeed::Fixed(seed)
        },
        failure_persistence: None,
        ..from_environment
    }
}
