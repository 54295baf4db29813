//! The key lookup: each key of the chosen scheduler from its flag, else diffusers'
//! `scheduler_config.json`, else diffusers' default for that scheduler, with where it came from
//! ([`Source`]); flags of keys the scheduler lacks and unsupported file values are refused here.
//!
//! diffusers writes its configs with Python's JSON extensions (`Infinity`, `-Infinity`, `NaN`),
//! which JSON5 includes, so the file is read as JSON5.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::cli::scheduler_flags::{FlagValue, SchedulerFlags};
use crate::scheduler::SchedulerKind;
use crate::scheduler::keys::{KEYS, Key, Preset, ValueType};

/// The largest config file read: a scheduler_config.json is a few KB (with 1000 trained betas
/// about 25 KB); anything far larger is not one, and is refused before it is read.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// A value of a JSON5 config file (numbers as f64, so that `-Infinity` survives).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
enum FileValue {
    Bool(bool),
    Number(f64),
    Text(String),
    List(Vec<FileValue>),
    Object(BTreeMap<String, FileValue>),
    Null,
}

impl std::fmt::Display for FileValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileValue::Bool(value) => write!(f, "{value}"),
            FileValue::Number(value) => write!(f, "{value}"),
            FileValue::Text(text) => write!(f, "{text:?}"),
            FileValue::List(_) | FileValue::Object(_) => {
                let json = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
                write!(f, "{json}")
            }
            FileValue::Null => write!(f, "null"),
        }
    }
}

/// A diffusers `scheduler_config.json`, its keys as written.
#[derive(Clone, Debug, Default)]
pub struct ConfigFile {
    path: Option<PathBuf>,
    keys: BTreeMap<String, FileValue>,
}

impl ConfigFile {
    /// Reads and parses a config file; errors name the file.
    pub fn read(path: &Path) -> Result<Self> {
        let cannot_read = || format!("cannot read scheduler config {}", path.display());
        let size = std::fs::metadata(path).with_context(cannot_read)?.len();
        if size > MAX_CONFIG_BYTES {
            bail!(
                "scheduler config {} is {size} bytes; a scheduler_config.json is a few KB",
                path.display()
            );
        }
        let text = std::fs::read_to_string(path).with_context(cannot_read)?;
        let keys = json5::from_str(&text).map_err(|error| {
            let message = error.to_string().replace('\n', " ");
            anyhow!("malformed scheduler config {}: {message}", path.display())
        })?;
        Ok(ConfigFile {
            path: Some(path.to_path_buf()),
            keys,
        })
    }

    /// The path, if a file was read.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// `_class_name`, if the file names one.
    pub(crate) fn class_name(&self) -> Option<&str> {
        match self.keys.get("_class_name") {
            Some(FileValue::Text(name)) => Some(name),
            _ => None,
        }
    }

    /// Key `key`'s value (absent for null, as diffusers' None), converted to the key's type.
    fn value(&self, key: &Key) -> Result<Option<Value>> {
        let (Some(path), Some(raw)) = (&self.path, self.keys.get(key.name)) else {
            return Ok(None);
        };
        if *raw == FileValue::Null {
            return Ok(None);
        }
        let wrong = || {
            anyhow!(
                "malformed scheduler config {}: {} is {raw}, expected {}",
                path.display(),
                key.name,
                match key.value_type {
                    ValueType::Bool => "true or false",
                    ValueType::Integer => "a non-negative integer",
                    ValueType::Float32 | ValueType::Float64 => "a number",
                    ValueType::Name => "a name",
                    ValueType::Indices => "a list of step indices",
                    ValueType::Floats => "a list of numbers",
                    ValueType::Json => "a JSON value",
                }
            )
        };
        let integer = |value: &FileValue| match value {
            FileValue::Number(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 2f64.powi(53) => {
                Some(*n as u64)
            }
            _ => None,
        };
        let value = match (key.value_type, raw) {
            (ValueType::Bool, FileValue::Bool(value)) => Value::Bool(*value),
            (ValueType::Integer, value) => Value::Integer(integer(value).ok_or_else(wrong)?),
            (ValueType::Float32, FileValue::Number(value)) => Value::Float32(*value as f32),
            (ValueType::Float64, FileValue::Number(value)) => Value::Float64(*value),
            (ValueType::Name, FileValue::Text(name)) => Value::Name(name.clone()),
            (ValueType::Indices, FileValue::List(items)) => Value::Indices(
                items
                    .iter()
                    .map(|item| integer(item).map(|i| i as usize))
                    .collect::<Option<_>>()
                    .ok_or_else(wrong)?,
            ),
            (ValueType::Floats, FileValue::List(items)) => Value::Floats(
                items
                    .iter()
                    .map(|item| match item {
                        FileValue::Number(n) => Some(*n as f32),
                        _ => None,
                    })
                    .collect::<Option<_>>()
                    .ok_or_else(wrong)?,
            ),
            (ValueType::Json, value) => Value::Json(value.to_string()),
            _ => return Err(wrong()),
        };
        Ok(Some(value))
    }
}

/// A key's resolved value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Integer(u64),
    /// An f32 value.
    Float32(f32),
    /// An f64 value.
    Float64(f64),
    /// A name.
    Name(String),
    /// Step indices.
    Indices(Vec<usize>),
    /// `trained_betas`.
    Floats(Vec<f32>),
    /// A file-only JSON value, as written.
    Json(String),
    /// No value (diffusers' None).
    Unset,
}

impl Value {
    fn from_preset(preset: Preset, value_type: ValueType) -> Value {
        match (preset, value_type) {
            (Preset::Bool(value), _) => Value::Bool(value),
            (Preset::Integer(value), _) => Value::Integer(value),
            (Preset::Float(value), ValueType::Float32) => Value::Float32(value as f32),
            (Preset::Float(value), _) => Value::Float64(value),
            (Preset::Name(name), _) => Value::Name(name.into()),
            (Preset::Unset, ValueType::Indices) => Value::Indices(Vec::new()),
            (Preset::Unset, _) => Value::Unset,
        }
    }

    fn from_flag(flag: &FlagValue) -> Value {
        match flag {
            FlagValue::Bool(value) => Value::Bool(*value),
            FlagValue::Integer(value) => Value::Integer(*value),
            FlagValue::Float32(value) => Value::Float32(*value),
            FlagValue::Float64(value) => Value::Float64(*value),
            FlagValue::Name(name) => Value::Name(name.clone()),
            FlagValue::Indices(indices) => Value::Indices(indices.clone()),
        }
    }

    /// The value as JSON (the manifest's form): f32 values keep their shortest f32 digits.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Bool(value) => (*value).into(),
            Value::Integer(value) => (*value).into(),
            Value::Float32(value) => serde_json::Value::from(*value),
            Value::Float64(value) => serde_json::Value::from(*value),
            Value::Name(name) => name.as_str().into(),
            Value::Indices(indices) => indices.clone().into(),
            Value::Floats(values) => values.clone().into(),
            Value::Json(text) => text.as_str().into(),
            Value::Unset => serde_json::Value::Null,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Name(name) => write!(f, "{name:?}"),
            Value::Float64(value) if *value == f64::NEG_INFINITY => write!(f, "-Infinity"),
            Value::Unset => write!(f, "null"),
            Value::Json(text) => write!(f, "{text}"),
            other => write!(f, "{}", other.to_json()),
        }
    }
}

/// Where a value came from: the flag that gave it, the config file's key, or diffusers' default.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A command-line flag, e.g. `--steps`.
    Flag(String),
    /// A key of the config file.
    File(PathBuf, &'static str),
    /// diffusers' default for this key.
    Default(&'static str),
}

impl Source {
    /// Flag over file over default.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Source::Flag(_) => 2,
            Source::File(..) => 1,
            Source::Default(_) => 0,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "{flag}"),
            Source::File(path, key) => write!(f, "{}: {key}", path.display()),
            Source::Default(key) => write!(f, "{key} (diffusers' default)"),
        }
    }
}

/// The chosen scheduler's keys: each value with where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Lookup {
    values: BTreeMap<&'static str, (Value, Source)>,
}

impl Lookup {
    /// Every key of `scheduler`, flag > file > default; flags of keys it lacks are refused, and
    /// so are file values of keys of which only the default is supported.
    pub(crate) fn new(
        scheduler: SchedulerKind,
        flags: &SchedulerFlags,
        file: &ConfigFile,
    ) -> Result<Self> {
        if let Some(key) = KEYS
            .iter()
            .find(|key| flags.get(key.name).is_some() && !key.applies_to(scheduler))
        {
            bail!("{}", key.refusal(scheduler));
        }
        let mut values = BTreeMap::new();
        for key in KEYS {
            let Some(preset) = key.default_for(scheduler) else {
                continue;
            };
            let default = Value::from_preset(preset, key.value_type);
            let file_value = match key.read_from_file(scheduler) {
                true => file.value(key)?,
                false => None,
            };
            let (value, source) = match (flags.get(key.name), file_value, file.path()) {
                (Some(flag), _, _) => (
                    Value::from_flag(flag),
                    Source::Flag(key.flag().unwrap_or_default()),
                ),
                (None, Some(value), Some(path)) => {
                    (value, Source::File(path.to_path_buf(), key.name))
                }
                _ => (default.clone(), Source::Default(key.name)),
            };
            if key.default_only && value != default {
                bail!(
                    "{source} {value}: not supported (only {}, diffusers' default)",
                    match &default {
                        Value::Unset => "null".to_string(),
                        other => other.to_string(),
                    }
                );
            }
            values.insert(key.name, (value, source));
        }
        Ok(Lookup { values })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&(Value, Source)> {
        self.values.get(name)
    }

    pub(crate) fn source(&self, name: &'static str) -> Source {
        self.get(name)
            .map_or(Source::Default(name), |(_, source)| source.clone())
    }

    pub(crate) fn bool(&self, name: &str) -> Option<(bool, Source)> {
        match self.get(name)? {
            (Value::Bool(value), source) => Some((*value, source.clone())),
            _ => None,
        }
    }

    pub(crate) fn flag(&self, name: &str) -> bool {
        self.bool(name).is_some_and(|(value, _)| value)
    }

    pub(crate) fn integer(&self, name: &str) -> Option<(u64, Source)> {
        match self.get(name)? {
            (Value::Integer(value), source) => Some((*value, source.clone())),
            _ => None,
        }
    }

    pub(crate) fn u32(&self, name: &str) -> Result<Option<u32>> {
        match self.integer(name) {
            Some((value, source)) => u32::try_from(value)
                .map(Some)
                .map_err(|_| anyhow!("{source}: {value} is too large")),
            None => Ok(None),
        }
    }

    pub(crate) fn f32(&self, name: &str) -> Option<(f32, Source)> {
        match self.get(name)? {
            (Value::Float32(value), source) => Some((*value, source.clone())),
            _ => None,
        }
    }

    pub(crate) fn f64(&self, name: &str) -> Option<(f64, Source)> {
        match self.get(name)? {
            (Value::Float64(value), source) => Some((*value, source.clone())),
            _ => None,
        }
    }

    pub(crate) fn text(&self, name: &str) -> Option<(&str, &Source)> {
        match self.get(name)? {
            (Value::Name(value), source) => Some((value, source)),
            _ => None,
        }
    }

    /// A name parsed by the core, the error naming where it came from.
    pub(crate) fn parse<T: std::str::FromStr<Err = diffusion_core::Error>>(
        &self,
        name: &str,
    ) -> Result<T> {
        let (text, source) = self
            .text(name)
            .ok_or_else(|| anyhow!("{name}: no value for this scheduler"))?;
        text.parse::<T>()
            .map_err(|error| anyhow!("{source} {text:?}: {error}"))
    }
}
