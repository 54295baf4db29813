//! Reads what the model expects from the session: which input is the sample, which is the
//! timestep (its type and shape), and what the output carries.

use anyhow::{Result, bail};
use ort::session::Session;
use ort::value::{Outlet, TensorElementType, ValueType};

/// Element type of the timestep input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestepType {
    /// int64 (diffusers' export).
    Int64,
    /// int32.
    Int32,
    /// float32.
    Float32,
    /// float16.
    Float16,
}

/// Shape of the timestep input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestepShape {
    /// `[]`.
    Scalar,
    /// `[1]`, shared by the batch.
    One,
    /// `[B]`, one per sample.
    Batch,
}

/// Element type of an input besides the sample and the timestep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputElement {
    /// int64 (class labels of a diffusers export).
    Int64,
    /// int32.
    Int32,
    /// float32 (`encoder_hidden_states`, embeddings).
    Float32,
}

impl InputElement {
    /// numpy's name of the type.
    pub fn numpy_name(self) -> &'static str {
        match self {
            InputElement::Int64 => "int64",
            InputElement::Int32 => "int32",
            InputElement::Float32 => "float32",
        }
    }
}

/// An input besides the sample and the timestep (class labels, conditioning): the caller
/// supplies its values with `--input` and friends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraInput {
    /// Its name.
    pub name: String,
    /// Its element type; `Err` with the type's name for a type host cannot feed.
    pub element: Result<InputElement, String>,
    /// Its dimensions, `None` where dynamic; the first is the batch.
    pub dims: Vec<Option<usize>>,
    /// How the model describes it, e.g. `encoder_hidden_states (Float32[B,5,16])`.
    pub description: String,
}

/// The model's interface as the sampler uses it.
#[derive(Clone, Debug)]
pub struct Signature {
    /// Name of the rank-4 float32 input.
    pub sample_input: String,
    /// Its dimensions [B, C, H, W]; `None` where dynamic (C and H, W then come from
    /// `--init-noise` or `--sample-size`).
    pub sample_dims: [Option<usize>; 4],
    /// Name of the timestep input.
    pub timestep_input: String,
    /// Its element type.
    pub timestep_type: TimestepType,
    /// Its shape.
    pub timestep_shape: TimestepShape,
    /// Name of the output used as the prediction (the first output).
    pub output: String,
    /// Output channels when static (C, or 2C with learned variance).
    pub output_channels: Option<usize>,
    /// Inputs besides the sample and the timestep, in the model's order.
    pub extra_inputs: Vec<ExtraInput>,
    /// Every input, described, for messages.
    pub all_inputs: String,
}

fn describe(outlet: &Outlet) -> String {
    match outlet.dtype() {
        ValueType::Tensor {
            ty,
            shape,
            dimension_symbols,
        } => {
            let dims: Vec<String> = shape
                .iter()
                .zip(dimension_symbols.iter())
                .map(|(&d, symbol)| {
                    if d >= 0 {
                        d.to_string()
                    } else if symbol.is_empty() {
                        "?".into()
                    } else {
                        symbol.clone()
                    }
                })
                .collect();
            format!("{} ({ty}[{}])", outlet.name(), dims.join(","))
        }
        other => format!("{} ({other:?})", outlet.name()),
    }
}

fn tensor(outlet: &Outlet) -> Option<(TensorElementType, &[i64])> {
    match outlet.dtype() {
        ValueType::Tensor { ty, shape, .. } => Some((*ty, &shape[..])),
        _ => None,
    }
}

fn dimension(d: i64) -> Option<usize> {
    usize::try_from(d).ok()
}

/// The outcome of choosing one input among candidates.
enum Pick<'a> {
    One(&'a Outlet),
    Nothing,
    Ambiguous,
}

/// The only candidate, or among several the first with one of the conventional `names`.
fn pick<'a>(candidates: &[&'a Outlet], names: &[&str]) -> Pick<'a> {
    match candidates {
        [one] => Pick::One(one),
        [] => Pick::Nothing,
        several => several
            .iter()
            .find(|input| names.contains(&input.name()))
            .map_or(Pick::Ambiguous, |input| Pick::One(input)),
    }
}

/// Reads the signature; every refusal names what the model has.
pub fn read(session: &Session) -> Result<Signature> {
    let inputs = session.inputs();
    let all_inputs = || inputs.iter().map(describe).collect::<Vec<_>>().join(", ");
    let samples: Vec<&Outlet> = inputs
        .iter()
        .filter(|input| matches!(tensor(input), Some((TensorElementType::Float32, shape)) if shape.len() == 4))
        .collect();
    let sample = match pick(&samples, &["sample", "x", "latents", "x_t"]) {
        Pick::One(sample) => sample,
        Pick::Nothing => bail!(
            "the model has no rank-4 float32 input for the sample (inputs: {})",
            all_inputs()
        ),
        Pick::Ambiguous => bail!(
            "the model has several rank-4 float32 inputs, none named sample (inputs: {})",
            all_inputs()
        ),
    };
    let is_timestep_like = |input: &&Outlet| {
        matches!(tensor(input), Some((ty, shape))
            if shape.len() <= 1 && matches!(ty, TensorElementType::Int64 | TensorElementType::Int32
                | TensorElementType::Float32 | TensorElementType::Float16))
    };
    let others: Vec<&Outlet> = inputs
        .iter()
        .filter(|input| input.name() != sample.name())
        .collect();
    let timestep_candidates: Vec<&Outlet> =
        others.iter().copied().filter(is_timestep_like).collect();
    let timestep = match pick(
        &timestep_candidates,
        &["timestep", "timesteps", "t", "time"],
    ) {
        Pick::One(timestep) => timestep,
        Pick::Nothing => bail!(
            "the model has no timestep input (int64/int32/float32/float16 of shape [], [1] or [B]; inputs: {})",
            all_inputs()
        ),
        Pick::Ambiguous => bail!(
            "cannot tell which input is the timestep (inputs: {})",
            all_inputs()
        ),
    };
    let extra_inputs = others
        .iter()
        .filter(|input| input.name() != timestep.name())
        .map(|input| {
            let (element, dims) = match tensor(input) {
                Some((ty, shape)) => (
                    match ty {
                        TensorElementType::Int64 => Ok(InputElement::Int64),
                        TensorElementType::Int32 => Ok(InputElement::Int32),
                        TensorElementType::Float32 => Ok(InputElement::Float32),
                        other => Err(other.to_string()),
                    },
                    shape.iter().map(|&d| dimension(d)).collect(),
                ),
                None => (Err("a non-tensor".to_string()), Vec::new()),
            };
            ExtraInput {
                name: input.name().to_string(),
                element,
                dims,
                description: describe(input),
            }
        })
        .collect();
    let (_, sample_shape) = tensor(sample).expect("filtered as a tensor above");
    let sample_dims = [0, 1, 2, 3].map(|axis| dimension(sample_shape[axis]));
    let (timestep_type, timestep_dims) = tensor(timestep).expect("filtered as a tensor above");
    let timestep_type = match timestep_type {
        TensorElementType::Int64 => TimestepType::Int64,
        TensorElementType::Int32 => TimestepType::Int32,
        TensorElementType::Float32 => TimestepType::Float32,
        _ => TimestepType::Float16,
    };
    let timestep_shape = match timestep_dims {
        [] => TimestepShape::Scalar,
        [1] => TimestepShape::One,
        _ => TimestepShape::Batch,
    };
    let Some(output) = session.outputs().first() else {
        bail!("the model has no output")
    };
    let output_channels = match tensor(output) {
        Some((TensorElementType::Float32, shape)) if shape.len() == 4 => dimension(shape[1]),
        _ => bail!(
            "the model's output {} is not a rank-4 float32 tensor",
            describe(output)
        ),
    };
    Ok(Signature {
        sample_input: sample.name().to_string(),
        sample_dims,
        timestep_input: timestep.name().to_string(),
        timestep_type,
        timestep_shape,
        output: output.name().to_string(),
        output_channels,
        extra_inputs,
        all_inputs: all_inputs(),
    })
}
