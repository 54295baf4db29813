//! The update rules host runs, each named as diffusers names its scheduler class.

use clap::ValueEnum;

/// The update rule (`--scheduler`, or the config's `_class_name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum SchedulerKind {
    /// Denoising diffusion implicit models (η selects the noise).
    Ddim,
    /// Ancestral sampling of denoising diffusion probabilistic models.
    Ddpm,
    /// DPM-Solver(++) multistep, diffusers' DPMSolverMultistepScheduler (also: dpmsolver++).
    #[value(name = "dpm-solver", alias = "dpmsolver++")]
    DpmSolver,
    /// UniPC multistep, diffusers' UniPCMultistepScheduler.
    Unipc,
    /// Euler, diffusers' EulerDiscreteScheduler.
    Euler,
    /// Euler ancestral, diffusers' EulerAncestralDiscreteScheduler (noise v1 at each step).
    EulerAncestral,
    /// Heun (second order, two model calls per step but the last), diffusers'
    /// HeunDiscreteScheduler.
    Heun,
    /// Latent consistency models' multistep sampling, diffusers' LCMScheduler (noise v1
    /// between steps).
    Lcm,
}

impl SchedulerKind {
    /// Every rule, in `--help` order.
    pub const ALL: [SchedulerKind; 8] = [
        SchedulerKind::Ddim,
        SchedulerKind::Ddpm,
        SchedulerKind::DpmSolver,
        SchedulerKind::Unipc,
        SchedulerKind::Euler,
        SchedulerKind::EulerAncestral,
        SchedulerKind::Heun,
        SchedulerKind::Lcm,
    ];

    /// diffusers' class of this update rule (`_class_name` in scheduler_config.json).
    pub fn class_name(self) -> &'static str {
        match self {
            SchedulerKind::Ddim => "DDIMScheduler",
            SchedulerKind::Ddpm => "DDPMScheduler",
            SchedulerKind::DpmSolver => "DPMSolverMultistepScheduler",
            SchedulerKind::Unipc => "UniPCMultistepScheduler",
            SchedulerKind::Euler => "EulerDiscreteScheduler",
            SchedulerKind::EulerAncestral => "EulerAncestralDiscreteScheduler",
            SchedulerKind::Heun => "HeunDiscreteScheduler",
            SchedulerKind::Lcm => "LCMScheduler",
        }
    }

    /// The rule whose diffusers class is `class_name`, if host runs it.
    pub fn from_class_name(class_name: &str) -> Option<SchedulerKind> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.class_name() == class_name)
    }

    /// The `--scheduler` value.
    pub fn flag_value(self) -> &'static str {
        match self {
            SchedulerKind::Ddim => "ddim",
            SchedulerKind::Ddpm => "ddpm",
            SchedulerKind::DpmSolver => "dpm-solver",
            SchedulerKind::Unipc => "unipc",
            SchedulerKind::Euler => "euler",
            SchedulerKind::EulerAncestral => "euler-ancestral",
            SchedulerKind::Heun => "heun",
            SchedulerKind::Lcm => "lcm",
        }
    }

    /// The short name in messages: "DPM-Solver", "UniPC", "Euler ancestral"…
    pub fn display_name(self) -> &'static str {
        match self {
            SchedulerKind::Ddim => "DDIM",
            SchedulerKind::Ddpm => "DDPM",
            SchedulerKind::DpmSolver => "DPM-Solver",
            SchedulerKind::Unipc => "UniPC",
            SchedulerKind::Euler => "Euler",
            SchedulerKind::EulerAncestral => "Euler ancestral",
            SchedulerKind::Heun => "Heun",
            SchedulerKind::Lcm => "LCM",
        }
    }
}

/// "A", "A and B", "A, B and C" (`last` = "and"), or with "or".
pub fn join_names(names: &[&str], last: &str) -> String {
    match names.split_last() {
        Some((final_name, rest)) if !rest.is_empty() => {
            format!("{} {last} {final_name}", rest.join(", "))
        }
        _ => names.concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_round_trip_and_flag_values_parse() {
        for kind in SchedulerKind::ALL {
            assert_eq!(
                SchedulerKind::from_class_name(kind.class_name()),
                Some(kind)
            );
            assert_eq!(SchedulerKind::from_str(kind.flag_value(), false), Ok(kind));
        }
        assert_eq!(SchedulerKind::from_class_name("PNDMScheduler"), None);
        assert_eq!(join_names(&["A", "B", "C"], "and"), "A, B and C");
        assert_eq!(join_names(&["A"], "or"), "A");
    }
}
