//! `--device-id N | auto`: which GPU CUDA and TensorRT use. `auto` follows the scheduler that
//! started the process, so that the tasks of one multi-GPU node spread over its GPUs.

use std::str::FromStr;

/// `--device-id` as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceId {
    /// A GPU index (among those `CUDA_VISIBLE_DEVICES` leaves visible).
    Index(i32),
    /// From the environment, see [`DeviceId::resolve`].
    Auto,
}

impl FromStr for DeviceId {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(DeviceId::Auto),
            _ => match text.parse::<i32>() {
                Ok(index) if index >= 0 => Ok(DeviceId::Index(index)),
                _ => Err(format!("{text:?} is not auto or a GPU index >= 0")),
            },
        }
    }
}

/// The variables that hold a process's rank among the tasks of its node, in the order they are
/// read: Slurm, torchrun (and most launchers), Open MPI.
const LOCAL_RANK_VARIABLES: [&str; 3] =
    ["SLURM_LOCALID", "LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"];

impl DeviceId {
    /// The index: as given, or for `auto`: 0 when `CUDA_VISIBLE_DEVICES` already narrows the
    /// process to one GPU (as Slurm's `--gres=gpu:1` does), else the local rank (the first of
    /// SLURM_LOCALID, LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_RANK), else 0.
    pub fn resolve(self, variable: impl Fn(&str) -> Option<String>) -> Result<i32, String> {
        if let DeviceId::Index(index) = self {
            return Ok(index);
        }
        let visible = variable("CUDA_VISIBLE_DEVICES")
            .map(|list| list.split(',').filter(|d| !d.trim().is_empty()).count());
        if visible == Some(1) {
            return Ok(0);
        }
        let rank = LOCAL_RANK_VARIABLES
            .iter()
            .find_map(|&name| variable(name).map(|value| (name, value)));
        let Some((name, value)) = rank else {
            return Ok(0);
        };
        let rank: i32 = value
            .trim()
            .parse()
            .ok()
            .filter(|&rank| rank >= 0)
            .ok_or_else(|| format!("--device-id auto: {name}={value:?} is not a rank"))?;
        match visible {
            Some(count) if rank as usize >= count => Err(format!(
                "--device-id auto: local rank {rank} ({name}) but CUDA_VISIBLE_DEVICES lists {count} GPUs"
            )),
            _ => Ok(rank),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(pairs: &[(&str, &str)]) -> Result<i32, String> {
        DeviceId::Auto.resolve(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn auto_follows_the_local_rank_unless_one_gpu_is_visible() {
        assert_eq!(resolve(&[]), Ok(0));
        assert_eq!(resolve(&[("SLURM_LOCALID", "3")]), Ok(3));
        assert_eq!(resolve(&[("LOCAL_RANK", "2")]), Ok(2));
        assert_eq!(
            resolve(&[("SLURM_LOCALID", "3"), ("CUDA_VISIBLE_DEVICES", "5")]),
            Ok(0)
        );
        assert_eq!(
            resolve(&[("SLURM_LOCALID", "1"), ("CUDA_VISIBLE_DEVICES", "4,5")]),
            Ok(1)
        );
        assert!(resolve(&[("SLURM_LOCALID", "2"), ("CUDA_VISIBLE_DEVICES", "4,5")]).is_err());
        assert!(resolve(&[("LOCAL_RANK", "x")]).is_err());
        assert_eq!(DeviceId::Index(7).resolve(|_| None), Ok(7));
        assert_eq!("auto".parse(), Ok(DeviceId::Auto));
        assert!("-1".parse::<DeviceId>().is_err());
    }
}
