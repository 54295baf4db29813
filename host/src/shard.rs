//! `--shard K/N`: which global sample indices this process computes.

use std::ops::Range;
use std::str::FromStr;

/// Shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// K, 0-based.
    pub index: u64,
    /// N ≥ 1.
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (index, count) = text.split_once('/').ok_or("expected K/N, e.g. 0/4")?;
        let index: u64 = index
            .trim()
            .parse()
            .map_err(|_| format!("shard index {index:?} is not a number"))?;
        let count: u64 = count
            .trim()
            .parse()
            .map_err(|_| format!("shard count {count:?} is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count} is out of range: need 0 <= K < N"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The whole job.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Global indices ⌊K·S/N⌋ ..< ⌊(K+1)·S/N⌋ of `total` samples: contiguous, and the shards
    /// together cover 0..S exactly once.
    pub fn samples(&self, total: u64) -> Range<u64> {
        let bound = |k: u64| (k as u128 * total as u128 / self.count as u128) as u64;
        bound(self.index)..bound(self.index + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_job() {
        for total in [0u64, 1, 7, 10, 1000] {
            for count in 1..6u64 {
                let mut next = 0;
                for index in 0..count {
                    let range = Shard { index, count }.samples(total);
                    assert_eq!(range.start, next);
                    next = range.end;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn parsing() {
        assert_eq!("1/2".parse(), Ok(Shard { index: 1, count: 2 }));
        assert!("2/2".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("a/2".parse::<Shard>().is_err());
        assert!("3".parse::<Shard>().is_err());
    }
}
