//! The scheduler keys host reads, written once: each row is diffusers' config key, its flag, its
//! type, the schedulers whose diffusers class has it and diffusers' default for each of them.
//!
//! Everything about a key is derived from its row: the flag and its `--help` line
//! ([`crate::cli`]), the lookup flag > `scheduler_config.json` > default and the refusal of a
//! flag the chosen scheduler does not have ([`crate::resolve`]), the fields of the manifest
//! ([`crate::finish`]), and the README's table ([`markdown_table`], checked by a test).
//! A file key the chosen scheduler does not have is ignored, as diffusers ignores it.

use super::kind::{SchedulerKind, join_names};
use SchedulerKind::{Ddim, Ddpm, DpmSolver, Euler, EulerAncestral, Heun, Lcm, Unipc};

/// The type of a key's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// `true` / `false`.
    Bool,
    /// A non-negative integer.
    Integer,
    /// A float32 value (parsed as f32, as diffusers' step sees it).
    Float32,
    /// A float64 value (schedule parameters, computed in f64).
    Float64,
    /// One of a set of names (checked by the core's parser of that name).
    Name,
    /// Comma-separated step indices (`disable_corrector`).
    Indices,
    /// A list of floats (`trained_betas`: file only).
    Floats,
    /// Any JSON value (a file-only key of which only the default is supported).
    Json,
}

/// diffusers' default of a key for some schedulers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Preset {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Integer(u64),
    /// A float (f32 keys hold values exactly representable in f32).
    Float(f64),
    /// A name.
    Name(&'static str),
    /// No value (`None` in diffusers; an empty list for `disable_corrector`).
    Unset,
}

/// Where a key's value may come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A flag or the config file.
    FlagOrFile,
    /// A flag only: diffusers passes it to `step()`, not to the config (`eta`), or host adds
    /// it to a class that has no such key (`set_alpha_to_one` of DDPM).
    FlagOnly,
    /// The config file only; host supports only diffusers' default, and refuses any other value
    /// (`use_lu_lambdas`, `solver_p`…), or takes the file's data (`trained_betas`).
    FileOnly,
}

/// One scheduler key.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// diffusers' name, as in `scheduler_config.json` and the manifest.
    pub name: &'static str,
    /// The values' type.
    pub value_type: ValueType,
    /// Flag, file or both.
    pub origin: Origin,
    /// Whether only the default is supported (a file value other than it is refused).
    pub default_only: bool,
    /// The schedulers that have the key, grouped by diffusers' default for them.
    pub defaults: &'static [(&'static [SchedulerKind], Preset)],
    /// The value's placeholder in `--help` (`BOOL`, `NAME`…).
    pub value_name: &'static str,
    /// What the key does, for `--help` (one sentence, no trailing period).
    pub help: &'static str,
    /// Appended to the refusal of the flag for a scheduler that lacks the key.
    pub refusal_hint: &'static str,
    /// Schedulers that take the flag but whose diffusers class has no such key, so a file's
    /// value is ignored for them (DDPM's `set_alpha_to_one`: diffusers' DDPM always ends at 1).
    pub flag_only_for: &'static [SchedulerKind],
}

const ALL: &[SchedulerKind] = &SchedulerKind::ALL;
const CLASSIC: &[SchedulerKind] = &[Ddim, Ddpm];
const NOT_HEUN: &[SchedulerKind] = &[Ddim, Ddpm, DpmSolver, Unipc, Euler, EulerAncestral];
/// Whose timesteps come from `--steps` and `timestep_spacing` (LCM's from its own grid).
const SPACED: &[SchedulerKind] = &[Ddim, Ddpm, DpmSolver, Unipc, Euler, EulerAncestral, Heun];
const MULTISTEP: &[SchedulerKind] = &[DpmSolver, Unipc];
const SIGMA_SCHEDULES: &[SchedulerKind] = &[DpmSolver, Unipc, Euler, Heun];
const THRESHOLDING: &[SchedulerKind] = &[Ddim, Ddpm, DpmSolver, Unipc, Lcm];

/// A flag-or-file key with one default for every scheduler that has it.
const fn key(
    name: &'static str,
    value_type: ValueType,
    defaults: &'static [(&'static [SchedulerKind], Preset)],
    value_name: &'static str,
    help: &'static str,
) -> Key {
    Key {
        name,
        value_type,
        origin: Origin::FlagOrFile,
        default_only: false,
        defaults,
        value_name,
        help,
        refusal_hint: "",
        flag_only_for: &[],
    }
}

/// A file-only key of which host supports diffusers' default alone.
const fn default_only(
    name: &'static str,
    value_type: ValueType,
    defaults: &'static [(&'static [SchedulerKind], Preset)],
) -> Key {
    Key {
        name,
        value_type,
        origin: Origin::FileOnly,
        default_only: true,
        defaults,
        value_name: "",
        help: "",
        refusal_hint: "",
        flag_only_for: &[],
    }
}

impl Key {
    /// The same key with a hint appended to its refusal.
    const fn hint(self, refusal_hint: &'static str) -> Key {
        Key {
            refusal_hint,
            ..self
        }
    }

    /// The same key from another origin.
    const fn origin(self, origin: Origin) -> Key {
        Key { origin, ..self }
    }
}

/// Every key, in `--help` order.
pub const KEYS: &[Key] = &[
    key(
        "num_train_timesteps",
        ValueType::Integer,
        &[(ALL, Preset::Integer(1000))],
        "T",
        "T, the number of training timesteps",
    ),
    key(
        "beta_schedule",
        ValueType::Name,
        &[
            (SPACED, Preset::Name("linear")),
            (&[Lcm], Preset::Name("scaled_linear")),
        ],
        "NAME",
        "β layout: linear, scaled_linear, squaredcos_cap_v2 or sigmoid",
    ),
    key(
        "beta_start",
        ValueType::Float64,
        &[
            (NOT_HEUN, Preset::Float(0.0001)),
            (&[Heun, Lcm], Preset::Float(0.00085)),
        ],
        "BETA",
        "β at t = 0",
    ),
    key(
        "beta_end",
        ValueType::Float64,
        &[
            (NOT_HEUN, Preset::Float(0.02)),
            (&[Heun, Lcm], Preset::Float(0.012)),
        ],
        "BETA",
        "β at t = T − 1",
    ),
    Key {
        origin: Origin::FileOnly,
        ..key(
            "trained_betas",
            ValueType::Floats,
            &[(ALL, Preset::Unset)],
            "",
            "",
        )
    },
    key(
        "rescale_betas_zero_snr",
        ValueType::Bool,
        &[(ALL, Preset::Bool(false))],
        "BOOL",
        "rescale the schedule to zero terminal SNR",
    ),
    key(
        "timestep_spacing",
        ValueType::Name,
        &[
            (CLASSIC, Preset::Name("leading")),
            (
                &[DpmSolver, Unipc, Euler, EulerAncestral, Heun],
                Preset::Name("linspace"),
            ),
        ],
        "NAME",
        "linspace, leading or trailing",
    ),
    key(
        "steps_offset",
        ValueType::Integer,
        &[(SPACED, Preset::Integer(0))],
        "N",
        "added to leading timesteps",
    )
    .hint("; LCM's timesteps come from --original-inference-steps"),
    key(
        "prediction_type",
        ValueType::Name,
        &[(ALL, Preset::Name("epsilon"))],
        "NAME",
        "what the model predicts: epsilon, v_prediction or sample",
    ),
    key(
        "variance_type",
        ValueType::Name,
        &[(SPACED, Preset::Name("fixed_small"))],
        "NAME",
        "fixed_small, fixed_small_log or fixed_large; learned or learned_range (DDPM only: the \
         model outputs variance channels)",
    ),
    key(
        "eta",
        ValueType::Float32,
        &[(&[Ddim], Preset::Float(0.0))],
        "ETA",
        "DDIM's stochasticity: 0 is deterministic, 1 has DDPM's variance",
    )
    .origin(Origin::FlagOnly)
    .hint(
        "; DDPM's noise is set by --variance-type, Euler ancestral and SDE-DPM-Solver++ add their \
         own, the others are deterministic",
    ),
    key(
        "clip_sample",
        ValueType::Bool,
        &[
            (CLASSIC, Preset::Bool(true)),
            (&[Heun, Lcm], Preset::Bool(false)),
        ],
        "BOOL",
        "clamp the predicted x0 to ±clip-sample-range",
    )
    .hint("; DPM-Solver and UniPC clamp with --thresholding instead"),
    key(
        "clip_sample_range",
        ValueType::Float32,
        &[(&[Ddim, Ddpm, Heun, Lcm], Preset::Float(1.0))],
        "R",
        "the clamp range of --clip-sample",
    ),
    key(
        "thresholding",
        ValueType::Bool,
        &[(THRESHOLDING, Preset::Bool(false))],
        "BOOL",
        "dynamic thresholding of the predicted x0 (replaces --clip-sample)",
    ),
    key(
        "dynamic_thresholding_ratio",
        ValueType::Float32,
        &[(THRESHOLDING, Preset::Float(0.995))],
        "RATIO",
        "the quantile of |x0| that --thresholding clamps to",
    ),
    key(
        "sample_max_value",
        ValueType::Float32,
        &[(THRESHOLDING, Preset::Float(1.0))],
        "V",
        "the largest threshold of --thresholding",
    ),
    Key {
        // DDPMScheduler has no such key (it always ends at ᾱ = 1); host takes the flag.
        defaults: &[(CLASSIC, Preset::Bool(true))],
        flag_only_for: &[Ddpm],
        ..key(
            "set_alpha_to_one",
            ValueType::Bool,
            &[],
            "BOOL",
            "ᾱ after the last step is 1 (true) or ᾱ_0 (false)",
        )
    }
    .hint("; the others' last step is set by --final-sigmas-type or ends at sigma 0"),
    key(
        "algorithm_type",
        ValueType::Name,
        &[(&[DpmSolver], Preset::Name("dpmsolver++"))],
        "NAME",
        "dpmsolver++ (data prediction), dpmsolver (noise prediction) or sde-dpmsolver++",
    ),
    key(
        "solver_order",
        ValueType::Integer,
        &[(MULTISTEP, Preset::Integer(2))],
        "K",
        "1, 2 or 3 (DPM-Solver++ 2M is 2, 3M is 3)",
    ),
    key(
        "solver_type",
        ValueType::Name,
        &[
            (&[DpmSolver], Preset::Name("midpoint")),
            (&[Unipc], Preset::Name("bh2")),
        ],
        "NAME",
        "DPM-Solver: midpoint or heun (the second-order step's form); UniPC: bh1 or bh2 (B(h))",
    ),
    key(
        "lower_order_final",
        ValueType::Bool,
        &[(MULTISTEP, Preset::Bool(true))],
        "BOOL",
        "lower the order of the last steps (DPM-Solver: below 15 steps)",
    ),
    key(
        "euler_at_final",
        ValueType::Bool,
        &[(&[DpmSolver], Preset::Bool(false))],
        "BOOL",
        "take the last step with first order",
    ),
    key(
        "final_sigmas_type",
        ValueType::Name,
        &[(&[DpmSolver, Unipc, Euler], Preset::Name("zero"))],
        "NAME",
        "zero (the last step lands on x0) or sigma_min (stops at t = 0)",
    ),
    key(
        "predict_x0",
        ValueType::Bool,
        &[(&[Unipc], Preset::Bool(true))],
        "BOOL",
        "the solver combines x0 predictions (true) or noise predictions",
    ),
    key(
        "disable_corrector",
        ValueType::Indices,
        &[(&[Unipc], Preset::Unset)],
        "I,J,...",
        "step indices whose result is not corrected (an empty value corrects every step)",
    ),
    key(
        "use_karras_sigmas",
        ValueType::Bool,
        &[(SIGMA_SCHEDULES, Preset::Bool(false))],
        "BOOL",
        "Karras et al.'s sigmas (rho = 7) between sigma-min and sigma-max",
    ),
    key(
        "use_exponential_sigmas",
        ValueType::Bool,
        &[(SIGMA_SCHEDULES, Preset::Bool(false))],
        "BOOL",
        "sigmas evenly spaced in log sigma",
    ),
    key(
        "use_beta_sigmas",
        ValueType::Bool,
        &[(SIGMA_SCHEDULES, Preset::Bool(false))],
        "BOOL",
        "sigmas from the Beta(0.6, 0.6) quantiles",
    ),
    key(
        "sigma_min",
        ValueType::Float64,
        &[(&[Unipc, Euler], Preset::Unset)],
        "SIGMA",
        "the smallest sigma of Karras, exponential and beta sigmas [default: the schedule's]",
    ),
    key(
        "sigma_max",
        ValueType::Float64,
        &[(&[Unipc, Euler], Preset::Unset)],
        "SIGMA",
        "the largest sigma of Karras, exponential and beta sigmas [default: the schedule's]",
    ),
    key(
        "timestep_type",
        ValueType::Name,
        &[(&[Euler], Preset::Name("discrete"))],
        "NAME",
        "discrete (the training timestep, possibly fractional) or continuous (with \
         v_prediction: 0.25·ln sigma)",
    ),
    key(
        "original_inference_steps",
        ValueType::Integer,
        &[(&[Lcm], Preset::Integer(50))],
        "K",
        "the distillation grid of K timesteps that LCM's N steps are taken from (N <= K)",
    ),
    key(
        "timestep_scaling",
        ValueType::Float64,
        &[(&[Lcm], Preset::Float(10.0))],
        "S",
        "LCM's boundary condition: c_skip and c_out at the timestep times S",
    ),
    default_only(
        "use_lu_lambdas",
        ValueType::Bool,
        &[(&[DpmSolver], Preset::Bool(false))],
    ),
    default_only(
        "use_flow_sigmas",
        ValueType::Bool,
        &[(MULTISTEP, Preset::Bool(false))],
    ),
    default_only(
        "use_dynamic_shifting",
        ValueType::Bool,
        &[(MULTISTEP, Preset::Bool(false))],
    ),
    default_only(
        "lambda_min_clipped",
        ValueType::Float64,
        &[(&[DpmSolver], Preset::Float(f64::NEG_INFINITY))],
    ),
    default_only("solver_p", ValueType::Json, &[(&[Unipc], Preset::Unset)]),
    default_only(
        "interpolation_type",
        ValueType::Name,
        &[(&[Euler], Preset::Name("linear"))],
    ),
];

impl Key {
    /// The flag: `--` and the name with `-` for `_`.
    pub fn flag(&self) -> Option<String> {
        (self.origin != Origin::FileOnly).then(|| format!("--{}", self.name.replace('_', "-")))
    }

    /// diffusers' default for `scheduler`, or `None` when its class has no such key.
    pub fn default_for(&self, scheduler: SchedulerKind) -> Option<Preset> {
        self.defaults
            .iter()
            .find(|(kinds, _)| kinds.contains(&scheduler))
            .map(|&(_, preset)| preset)
    }

    /// Whether a config file's value is read for `scheduler`.
    pub fn read_from_file(&self, scheduler: SchedulerKind) -> bool {
        self.origin != Origin::FlagOnly && !self.flag_only_for.contains(&scheduler)
    }

    /// Whether `scheduler`'s class has this key.
    pub fn applies_to(&self, scheduler: SchedulerKind) -> bool {
        self.default_for(scheduler).is_some()
    }

    /// The schedulers that have the key, in [`SchedulerKind::ALL`] order.
    pub fn schedulers(&self) -> Vec<SchedulerKind> {
        SchedulerKind::ALL
            .into_iter()
            .filter(|&kind| self.applies_to(kind))
            .collect()
    }

    /// "DDIM, DDPM and Heun" (or "all schedulers").
    pub fn applies_to_text(&self) -> String {
        let kinds = self.schedulers();
        if kinds.len() == SchedulerKind::ALL.len() {
            return "all schedulers".into();
        }
        let names: Vec<&str> = kinds.iter().map(|kind| kind.display_name()).collect();
        join_names(&names, "and")
    }

    /// The defaults in words: "true (DDIM, DDPM), false (Heun)", or one value.
    pub fn defaults_text(&self) -> String {
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for kind in self.schedulers() {
            let value = preset_text(self.default_for(kind).expect("applies"));
            match groups.iter_mut().find(|(v, _)| *v == value) {
                Some((_, names)) => names.push(kind.display_name()),
                None => groups.push((value, vec![kind.display_name()])),
            }
        }
        match &groups[..] {
            [(value, _)] => value.clone(),
            _ => groups
                .iter()
                .map(|(value, names)| format!("{value} ({})", names.join(", ")))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The flag's `--help` text: what it does, for which schedulers, diffusers' default.
    pub fn help_text(&self) -> String {
        format!(
            "{} ({}) [default: {}]",
            self.help,
            self.applies_to_text(),
            self.defaults_text()
        )
    }

    /// The refusal of the flag for `scheduler`, whose class lacks the key.
    pub fn refusal(&self, scheduler: SchedulerKind) -> String {
        let kinds = self.schedulers();
        let names: Vec<&str> = kinds.iter().map(|kind| kind.display_name()).collect();
        let values: Vec<&str> = kinds.iter().map(|kind| kind.flag_value()).collect();
        format!(
            "{} applies to {} only (--scheduler {}); {} has no {}{}",
            self.flag().unwrap_or_else(|| self.name.into()),
            join_names(&names, "and"),
            join_names(&values, "or"),
            scheduler.class_name(),
            self.name,
            self.refusal_hint
        )
    }
}

/// A preset as the README and `--help` write it.
pub fn preset_text(preset: Preset) -> String {
    match preset {
        Preset::Bool(value) => value.to_string(),
        Preset::Integer(value) => value.to_string(),
        Preset::Float(value) if value == f64::NEG_INFINITY => "-Infinity".into(),
        Preset::Float(value) => value.to_string(),
        Preset::Name(name) => name.into(),
        Preset::Unset => "none".into(),
    }
}

/// The key with diffusers' name `name`.
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.name == name)
}

/// The README's table of scheduler keys (between its markers), generated from [`KEYS`].
pub fn markdown_table() -> String {
    let mut table = String::from(
        "| key (diffusers) | flag | schedulers | diffusers' default |\n|---|---|---|---|\n",
    );
    for key in KEYS {
        let flag = match key.flag() {
            Some(flag) => format!("`{flag}`"),
            None if key.default_only => "file only; only the default is supported".into(),
            None => "file only".into(),
        };
        table.push_str(&format!(
            "| `{}` | {flag} | {} | {} |\n",
            key.name,
            key.applies_to_text(),
            key.defaults_text()
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_named_once_and_applies_somewhere() {
        for (i, key) in KEYS.iter().enumerate() {
            assert!(!key.schedulers().is_empty(), "{}", key.name);
            assert!(
                KEYS[i + 1..].iter().all(|other| other.name != key.name),
                "{} twice",
                key.name
            );
            // A scheduler appears in at most one default group.
            for kind in SchedulerKind::ALL {
                let groups = key.defaults.iter().filter(|(k, _)| k.contains(&kind));
                assert!(groups.count() <= 1, "{} {kind:?}", key.name);
            }
            if key.origin != Origin::FileOnly {
                assert!(
                    !key.help.is_empty() && !key.value_name.is_empty(),
                    "{}",
                    key.name
                );
            }
        }
    }

    #[test]
    fn texts_come_from_the_row() {
        let clip = find("clip_sample").unwrap();
        assert_eq!(clip.applies_to_text(), "DDIM, DDPM, Heun and LCM");
        assert_eq!(clip.defaults_text(), "true (DDIM, DDPM), false (Heun, LCM)");
        assert!(
            clip.refusal(Euler)
                .starts_with("--clip-sample applies to DDIM, DDPM, Heun and LCM only (--scheduler ddim, ddpm, heun or lcm); EulerDiscreteScheduler has no clip_sample")
        );
        let karras = find("use_karras_sigmas").unwrap();
        assert_eq!(
            karras.applies_to_text(),
            "DPM-Solver, UniPC, Euler and Heun"
        );
        assert_eq!(
            find("num_train_timesteps").unwrap().applies_to_text(),
            "all schedulers"
        );
        assert_eq!(find("solver_p").unwrap().flag(), None);
    }
}
