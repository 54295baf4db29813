//! What a core built without its `sigma-schedules` feature does with a sigma schedule: every
//! plan that asks for one is refused with [`Error::SigmaScheduleDisabled`], and interpolated
//! plans are unchanged. Run by `scripts/test.sh` as
//! `cargo test -p diffusion-core --no-default-features --lib`.

use crate::{
    DpmSolverConfig, DpmSolverPlan, Error, EulerConfig, EulerPlan, ScheduleConfig, SigmaSchedule,
    TimestepConfig, TimestepSpacing, UniPcConfig, UniPcPlan,
};

const TIMESTEPS: TimestepConfig = TimestepConfig {
    num_inference_steps: 10,
    spacing: TimestepSpacing::Trailing,
    steps_offset: 0,
};

#[test]
fn every_sigma_schedule_is_refused_and_interpolated_plans_build() {
    let schedule = ScheduleConfig::default();
    for sigma_schedule in [
        SigmaSchedule::Karras,
        SigmaSchedule::Exponential,
        SigmaSchedule::Beta,
    ] {
        let dpm = DpmSolverConfig {
            sigma_schedule,
            ..DpmSolverConfig::default()
        };
        let unipc = UniPcConfig {
            sigma_schedule,
            ..UniPcConfig::default()
        };
        let euler = EulerConfig {
            sigma_schedule,
            ..EulerConfig::default()
        };
        assert_eq!(
            DpmSolverPlan::<10>::new(&schedule, &TIMESTEPS, &dpm).err(),
            Some(Error::SigmaScheduleDisabled)
        );
        assert_eq!(
            UniPcPlan::<10>::new(&schedule, &TIMESTEPS, &unipc).err(),
            Some(Error::SigmaScheduleDisabled)
        );
        assert_eq!(
            EulerPlan::<10>::new(&schedule, &TIMESTEPS, &euler).err(),
            Some(Error::SigmaScheduleDisabled)
        );
    }
    let dpm = DpmSolverPlan::<10>::new(&schedule, &TIMESTEPS, &DpmSolverConfig::default());
    assert!(dpm.is_ok());
    let unipc = UniPcPlan::<10>::new(&schedule, &TIMESTEPS, &UniPcConfig::default());
    assert!(unipc.is_ok());
    let euler = EulerPlan::<10>::new(&schedule, &TIMESTEPS, &EulerConfig::default());
    assert!(euler.is_ok());
}
