//! The scheduler flags, made from the key table ([`crate::scheduler::keys::KEYS`]): one flag per
//! key that a flag may set, its `--help` line from the row. Parsing only; no I/O.

use std::collections::BTreeMap;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches, value_parser};

use crate::scheduler::keys::{KEYS, Key, ValueType};

/// A scheduler flag's parsed value.
#[derive(Clone, Debug, PartialEq)]
pub enum FlagValue {
    /// `--clip-sample true`.
    Bool(bool),
    /// `--steps-offset 1`.
    Integer(u64),
    /// `--clip-sample-range 1.5` (parsed as f32).
    Float32(f32),
    /// `--beta-start 0.00085` (parsed as f64).
    Float64(f64),
    /// `--timestep-spacing trailing`.
    Name(String),
    /// `--disable-corrector 0,1`.
    Indices(Vec<usize>),
}

/// The scheduler flags given on the command line, by diffusers' key name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SchedulerFlags {
    values: BTreeMap<&'static str, FlagValue>,
}

impl SchedulerFlags {
    /// The flag of key `name`, if given.
    pub fn get(&self, name: &str) -> Option<&FlagValue> {
        self.values.get(name)
    }

    /// The keys whose flags were given.
    pub fn given(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.values.keys().copied()
    }
}

/// The clap argument of a key that has a flag.
fn argument(key: &Key) -> Option<Arg> {
    let flag = key.flag()?;
    let argument = Arg::new(key.name)
        .long(flag.trim_start_matches("--").to_string())
        .value_name(key.value_name)
        .help(key.help_text())
        .action(ArgAction::Set);
    Some(match key.value_type {
        ValueType::Bool => argument.value_parser(value_parser!(bool)),
        ValueType::Integer => argument.value_parser(value_parser!(u64)),
        ValueType::Float32 => argument
            .value_parser(value_parser!(f32))
            .allow_negative_numbers(true),
        ValueType::Float64 => argument
            .value_parser(value_parser!(f64))
            .allow_negative_numbers(true),
        ValueType::Indices => argument
            .value_parser(value_parser!(usize))
            .value_delimiter(',')
            .num_args(0..)
            .action(ArgAction::Append),
        ValueType::Name | ValueType::Floats | ValueType::Json => argument,
    })
}

impl Args for SchedulerFlags {
    fn augment_args(command: Command) -> Command {
        KEYS.iter()
            .filter_map(argument)
            .fold(
                command.next_help_heading(
                    "Scheduler (diffusers' keys; a flag overrides scheduler_config.json)",
                ),
                Command::arg,
            )
            .next_help_heading(None)
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

impl FromArgMatches for SchedulerFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut values = BTreeMap::new();
        for key in KEYS.iter().filter(|key| key.flag().is_some()) {
            if matches.value_source(key.name) != Some(ValueSource::CommandLine) {
                continue;
            }
            let value = match key.value_type {
                ValueType::Bool => matches
                    .get_one::<bool>(key.name)
                    .copied()
                    .map(FlagValue::Bool),
                ValueType::Integer => matches
                    .get_one::<u64>(key.name)
                    .copied()
                    .map(FlagValue::Integer),
                ValueType::Float32 => matches
                    .get_one::<f32>(key.name)
                    .copied()
                    .map(FlagValue::Float32),
                ValueType::Float64 => matches
                    .get_one::<f64>(key.name)
                    .copied()
                    .map(FlagValue::Float64),
                ValueType::Indices => Some(FlagValue::Indices(
                    matches
                        .get_many::<usize>(key.name)
                        .map(|values| values.copied().collect())
                        .unwrap_or_default(),
                )),
                ValueType::Name | ValueType::Floats | ValueType::Json => matches
                    .get_one::<String>(key.name)
                    .cloned()
                    .map(FlagValue::Name),
            };
            if let Some(value) = value {
                values.insert(key.name, value);
            }
        }
        Ok(SchedulerFlags { values })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}
