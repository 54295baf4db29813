//! The sigma after a run's last timestep (diffusers `final_sigmas_type`), shared by the
//! sigma-space plans (DPM-Solver, UniPC, Euler, Heun).

use core::str::FromStr;

use crate::error::{Error, NameKind};

/// The sigma after the last timestep (diffusers `final_sigmas_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FinalSigmasType {
    /// `zero`: σ = 0, the last step lands on x̂₀ (and is always first order).
    #[default]
    Zero,
    /// `sigma_min`: σ = √((1 − ᾱ_0)/ᾱ_0), the sigma of training timestep 0.
    SigmaMin,
}

impl FromStr for FinalSigmasType {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "zero" => Ok(FinalSigmasType::Zero),
            "sigma_min" => Ok(FinalSigmasType::SigmaMin),
            _ => Err(Error::UnknownName(NameKind::FinalSigmasType)),
        }
    }
}
