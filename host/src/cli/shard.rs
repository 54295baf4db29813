//! `--shard K/N | auto | auto/N`: which global sample indices this process computes, given by
//! hand or read from the job array the process runs in (a Slurm job array, a Kubernetes Indexed
//! Job).

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

/// `--shard` as given: a shard, or `auto` (K, and N unless given, from the environment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardSpec {
    /// `K/N`.
    Fixed(Shard),
    /// `auto` or `auto/N`.
    Auto {
        /// N, when given.
        count: Option<u64>,
    },
}

impl FromStr for ShardSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.strip_prefix("auto") {
            Some("") => Ok(ShardSpec::Auto { count: None }),
            Some(rest) => match rest.strip_prefix('/').map(str::parse::<u64>) {
                Some(Ok(count)) if count > 0 => Ok(ShardSpec::Auto { count: Some(count) }),
                _ => Err(format!("expected auto or auto/N with N >= 1, got {text:?}")),
            },
            None => text.parse().map(ShardSpec::Fixed),
        }
    }
}

/// The Kubernetes variable that gives N for `--shard auto` (an Indexed Job's pods see their index
/// in `JOB_COMPLETION_INDEX`, but not the number of completions).
pub const SHARD_COUNT_VARIABLE: &str = "HOST_SHARD_COUNT";

impl ShardSpec {
    /// The shard, reading the environment through `variable` for `auto`:
    /// - a Slurm job array: K = (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP,
    ///   N = SLURM_ARRAY_TASK_COUNT (else (MAX − MIN) / STEP + 1);
    /// - a Kubernetes Indexed Job: K = JOB_COMPLETION_INDEX, N from `auto/N` or HOST_SHARD_COUNT.
    pub fn resolve(self, variable: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let given = match self {
            ShardSpec::Fixed(shard) => return Ok(shard),
            ShardSpec::Auto { count } => count,
        };
        let number =
            |name: &str| -> Result<Option<u64>, String> {
                match variable(name) {
                    None => Ok(None),
                    Some(value) => value.trim().parse().map(Some).map_err(|_| {
                        format!("--shard auto: {name}={value:?} is not a whole number")
                    }),
                }
            };
        let (index, count, source) = if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let offset = id.checked_sub(min).filter(|offset| offset % step == 0).ok_or_else(|| {
                format!("--shard auto: SLURM_ARRAY_TASK_ID {id} is not in the array from {min} by {step}")
            })?;
            let count = match (
                number("SLURM_ARRAY_TASK_COUNT")?,
                number("SLURM_ARRAY_TASK_MAX")?,
            ) {
                (Some(count), _) => count,
                (None, Some(max)) if max >= min => (max - min) / step + 1,
                _ => {
                    return Err("--shard auto: SLURM_ARRAY_TASK_ID is set but neither \
                                 SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX"
                        .into());
                }
            };
            if let Some(given) = given.filter(|&given| given != count) {
                return Err(format!(
                    "--shard auto/{given} contradicts the Slurm array's {count} tasks"
                ));
            }
            (offset / step, count, "the Slurm array")
        } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = match (given, number(SHARD_COUNT_VARIABLE)?) {
                (Some(given), Some(variable)) if given != variable => {
                    return Err(format!(
                        "--shard auto/{given} contradicts {SHARD_COUNT_VARIABLE}={variable}"
                    ));
                }
                (Some(count), _) | (None, Some(count)) => count,
                (None, None) => {
                    return Err(format!(
                        "--shard auto: JOB_COMPLETION_INDEX is set but not the number of shards: \
                         set {SHARD_COUNT_VARIABLE} to the Job's completions or pass --shard auto/N"
                    ));
                }
            };
            (index, count, "the Kubernetes Indexed Job")
        } else {
            return Err(
                "--shard auto: not in a job array (neither SLURM_ARRAY_TASK_ID nor \
                        JOB_COMPLETION_INDEX is set); pass --shard K/N"
                    .into(),
            );
        };
        if count == 0 || index >= count {
            return Err(format!(
                "--shard auto: {source} gives shard {index} of {count}, out of range"
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

    fn environment(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn auto_reads_slurm_arrays() {
        let auto = ShardSpec::Auto { count: None };
        let slurm = |id, min, max, step| {
            let (id, min, max, step) = (
                format!("{id}"),
                format!("{min}"),
                format!("{max}"),
                format!("{step}"),
            );
            auto.resolve(environment(&[
                ("SLURM_ARRAY_TASK_ID", &id),
                ("SLURM_ARRAY_TASK_MIN", &min),
                ("SLURM_ARRAY_TASK_MAX", &max),
                ("SLURM_ARRAY_TASK_STEP", &step),
            ]))
        };
        assert_eq!(slurm(3, 0, 7, 1), Ok(Shard { index: 3, count: 8 }));
        // --array=1-8: task 1 is shard 0.
        assert_eq!(slurm(1, 1, 8, 1), Ok(Shard { index: 0, count: 8 }));
        // --array=0-15:4 has tasks 0, 4, 8, 12.
        assert_eq!(slurm(8, 0, 15, 4), Ok(Shard { index: 2, count: 4 }));
        assert!(slurm(5, 0, 15, 4).unwrap_err().contains("not in the array"));
        // COUNT wins over MAX when both are there (it is what Slurm sets).
        let counted = auto.resolve(environment(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MAX", "99"),
        ]));
        assert_eq!(counted, Ok(Shard { index: 2, count: 3 }));
        let contradicted = ShardSpec::Auto { count: Some(4) }.resolve(environment(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]));
        assert!(
            contradicted
                .unwrap_err()
                .contains("contradicts the Slurm array's 3 tasks")
        );
    }

    #[test]
    fn auto_reads_kubernetes_indexed_jobs() {
        let index = [("JOB_COMPLETION_INDEX", "5")];
        let with_count = [("JOB_COMPLETION_INDEX", "5"), ("HOST_SHARD_COUNT", "8")];
        let auto = ShardSpec::Auto { count: None };
        assert_eq!(
            auto.resolve(environment(&with_count)),
            Ok(Shard { index: 5, count: 8 })
        );
        let given = ShardSpec::Auto { count: Some(8) };
        assert_eq!(
            given.resolve(environment(&index)),
            Ok(Shard { index: 5, count: 8 })
        );
        assert!(
            auto.resolve(environment(&index))
                .unwrap_err()
                .contains("HOST_SHARD_COUNT")
        );
        let small = ShardSpec::Auto { count: Some(4) };
        assert!(
            small
                .resolve(environment(&index))
                .unwrap_err()
                .contains("out of range")
        );
        let neither = auto.resolve(environment(&[])).unwrap_err();
        assert!(neither.contains("not in a job array"), "{neither}");
    }

    #[test]
    fn parsing() {
        assert_eq!("auto".parse(), Ok(ShardSpec::Auto { count: None }));
        assert_eq!("auto/8".parse(), Ok(ShardSpec::Auto { count: Some(8) }));
        assert!("auto/0".parse::<ShardSpec>().is_err());
        assert!("autox".parse::<ShardSpec>().is_err());
        assert_eq!(
            "1/2".parse(),
            Ok(ShardSpec::Fixed(Shard { index: 1, count: 2 }))
        );
        assert_eq!("1/2".parse(), Ok(Shard { index: 1, count: 2 }));
        assert!("2/2".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("a/2".parse::<Shard>().is_err());
        assert!("3".parse::<Shard>().is_err());
    }
}
