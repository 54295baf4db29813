//! Model inputs besides the sample and the timestep (`--input NAME=FILE.npy`, class labels): their
//! values read and checked against the model's input once, then written into each batch's
//! tensors. A value's first dimension is 1 (every sample gets row 0) or the job's sample count
//! (sample i gets row i), so that sample i sees the same value at any batch size and in any shard,
//! as it sees the same noise.

use std::ops::Range;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use ort::session::IoBinding;
use ort::value::Tensor;

use crate::bind::signature::{ExtraInput, InputElement};

/// The largest input file read (a prompt embedding of 77×2048 floats per sample is 630 KB; a
/// file this size is a mistake).
const MAX_INPUT_BYTES: u64 = 4 << 30;

/// Values of one element type, in C order.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// int64.
    Int64(Vec<i64>),
    /// int32.
    Int32(Vec<i32>),
    /// float32.
    Float32(Vec<f32>),
}

impl Values {
    fn element(&self) -> InputElement {
        match self {
            Values::Int64(_) => InputElement::Int64,
            Values::Int32(_) => InputElement::Int32,
            Values::Float32(_) => InputElement::Float32,
        }
    }

    /// The values as integers, if they are.
    pub fn integers(&self) -> Option<Vec<i64>> {
        match self {
            Values::Int64(values) => Some(values.clone()),
            Values::Int32(values) => Some(values.iter().map(|&v| v as i64).collect()),
            Values::Float32(_) => None,
        }
    }
}

/// An array of values for one model input, and where it came from (for messages).
#[derive(Clone, Debug, PartialEq)]
pub struct InputArray {
    /// The flag that gave it, e.g. `--input encoder_hidden_states=prompt.npy`.
    pub source: String,
    /// Its shape; the first dimension is 1 or the number of samples.
    pub shape: Vec<usize>,
    /// Its values.
    pub values: Values,
}

impl InputArray {
    /// Reads an int64, int32 or float32 `.npy` (C or Fortran order); its header must describe
    /// exactly the data the file holds.
    pub fn read(source: String, path: &Path) -> Result<Self> {
        let cannot_read = || format!("{source}: cannot read {}", path.display());
        let size = std::fs::metadata(path).with_context(cannot_read)?.len();
        if size > MAX_INPUT_BYTES {
            bail!("{source}: {size} bytes is larger than any model input host reads");
        }
        let bytes = std::fs::read(path).with_context(cannot_read)?;
        let file = npyz::NpyFile::new(&bytes[..])
            .map_err(|error| anyhow!("{source}: not a valid .npy file ({error})"))?;
        let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
        let descr = file.dtype().descr();
        let (element, width) = match descr.trim_matches('\'') {
            "<i8" => (InputElement::Int64, 8),
            "<i4" => (InputElement::Int32, 4),
            "<f4" => (InputElement::Float32, 4),
            other => bail!(
                "{source}: dtype {other} is not one host feeds (int64 '<i8', int32 '<i4', float32 '<f4')"
            ),
        };
        let fortran = file.order() == npyz::Order::Fortran;
        let data: &[u8] = file.into_inner();
        let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if count.and_then(|n| n.checked_mul(width)) != Some(data.len()) {
            bail!(
                "{source}: its header describes shape {shape:?} of {descr}, but the file holds {} bytes of data",
                data.len()
            );
        }
        let values = match element {
            InputElement::Int64 => Values::Int64(c_order(
                data.chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect(),
                &shape,
                fortran,
            )),
            InputElement::Int32 => Values::Int32(c_order(
                data.chunks_exact(4)
                    .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .collect(),
                &shape,
                fortran,
            )),
            InputElement::Float32 => Values::Float32(c_order(
                data.chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .collect(),
                &shape,
                fortran,
            )),
        };
        Ok(InputArray {
            source,
            shape,
            values,
        })
    }

    /// The element type.
    pub fn element(&self) -> InputElement {
        self.values.element()
    }

    /// Rows (the first dimension).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// The same values as `element` (integer labels for an int32 or int64 input).
    pub fn converted_to(mut self, element: InputElement) -> Self {
        self.values = match (self.values, element) {
            (Values::Int64(values), InputElement::Int32) => Values::Int32(
                values
                    .into_iter()
                    .map(|v| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
                    .collect(),
            ),
            (Values::Int32(values), InputElement::Int64) => {
                Values::Int64(values.into_iter().map(i64::from).collect())
            }
            (values, _) => values,
        };
        self
    }

    /// Checks the array against the model's input: element type, rank, the dimensions after the
    /// first where the model fixes them, and a first dimension of 1 or `num_samples`.
    pub fn check(&self, input: &ExtraInput, num_samples: u64) -> Result<()> {
        let element = model_element(input)?;
        if self.element() != element {
            bail!(
                "{}: dtype {}, but the model's input is {}",
                self.source,
                self.element().numpy_name(),
                input.description
            );
        }
        if self.shape.len() != input.dims.len() {
            bail!(
                "{}: shape {:?} has rank {}, but the model's input is {}",
                self.source,
                self.shape,
                self.shape.len(),
                input.description
            );
        }
        let rows = self.rows() as u64;
        if rows != 1 && rows != num_samples {
            bail!(
                "{}: first dimension {rows}: expected 1 (shared by every sample) or --num-samples {num_samples} (one per sample)",
                self.source
            );
        }
        for (axis, (&got, &wanted)) in self.shape.iter().zip(&input.dims).enumerate().skip(1) {
            if wanted.is_some_and(|wanted| wanted != got) {
                bail!(
                    "{}: shape {:?} differs from the model's input {} in dimension {axis}",
                    self.source,
                    self.shape,
                    input.description
                );
            }
        }
        Ok(())
    }
}

/// `values` of `shape` in C order, from C or Fortran order.
fn c_order<T: Copy>(values: Vec<T>, shape: &[usize], fortran: bool) -> Vec<T> {
    if !fortran || shape.len() < 2 {
        return values;
    }
    use ndarray::ShapeBuilder;
    let array = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape).f(), values)
        .expect("length checked against the shape");
    array.iter().copied().collect()
}

/// The element type host feeds to `input`, or why it cannot.
pub fn model_element(input: &ExtraInput) -> Result<InputElement> {
    let element = input.element.clone().map_err(|ty| {
        anyhow!(
            "the model's input {} is {ty}: host feeds int64, int32 and float32 inputs",
            input.description
        )
    })?;
    if input.dims.is_empty() {
        bail!(
            "the model's input {} is a scalar: host feeds inputs whose first dimension is the batch",
            input.description
        );
    }
    Ok(element)
}

/// Which of an input's values a half of a guided batch sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    /// The unconditional values (the conditional ones where the input has none).
    Unconditional,
    /// The conditional values.
    Conditional,
}

/// One model input's values for the job, checked against the model.
#[derive(Clone, Debug)]
pub struct ModelInput {
    /// The model's input name.
    pub name: String,
    /// Its element type.
    pub element: InputElement,
    /// Its shape after the batch dimension.
    pub row_shape: Vec<usize>,
    /// The conditional values.
    pub conditional: InputArray,
    /// The unconditional values, when guided.
    pub unconditional: Option<InputArray>,
}

impl ModelInput {
    fn row_len(&self) -> usize {
        self.row_shape.iter().product()
    }

    fn array(&self, half: Half) -> &InputArray {
        match (half, &self.unconditional) {
            (Half::Unconditional, Some(unconditional)) => unconditional,
            _ => &self.conditional,
        }
    }
}

/// Row i of `values` (`rows` rows of `row_len`) for each sample i of `samples`, one after another
/// into `out`: row 0 for every sample when there is one row, else row min(i, rows − 1) (the last
/// for a padding sample past the job's end).
fn gather<T: Copy>(values: &[T], rows: usize, row_len: usize, samples: Range<u64>, out: &mut [T]) {
    for (sample, target) in samples.zip(out.chunks_mut(row_len.max(1))) {
        let row = (sample as usize).min(rows - 1);
        target.copy_from_slice(&values[row * row_len..(row + 1) * row_len]);
    }
}

/// The tensor of one model input for one model call.
pub enum InputTensor {
    /// int64.
    Int64(Tensor<i64>),
    /// int32.
    Int32(Tensor<i32>),
    /// float32.
    Float32(Tensor<f32>),
}

impl InputTensor {
    /// A tensor of `rows` rows of `input`'s row shape.
    pub fn new(input: &ModelInput, rows: usize) -> Result<Self> {
        let mut shape = vec![rows as i64];
        shape.extend(input.row_shape.iter().map(|&d| d as i64));
        let count = rows * input.row_len();
        Ok(match input.element {
            InputElement::Int64 => Self::Int64(Tensor::from_array((shape, vec![0i64; count]))?),
            InputElement::Int32 => Self::Int32(Tensor::from_array((shape, vec![0i32; count]))?),
            InputElement::Float32 => Self::Float32(Tensor::from_array((shape, vec![0f32; count]))?),
        })
    }

    /// Writes, for each half in order, the rows of the samples `samples` (global indices; an index
    /// past the job's last sample, a padding sample, gets the last row).
    pub fn fill(&mut self, input: &ModelInput, halves: &[Half], samples: Range<u64>) {
        let row_len = input.row_len();
        let per_half = (samples.end - samples.start) as usize * row_len;
        for (k, &half) in halves.iter().enumerate() {
            let array = input.array(half);
            let target = k * per_half..(k + 1) * per_half;
            let rows = array.rows();
            let samples = samples.clone();
            match (&mut *self, &array.values) {
                (Self::Int64(t), Values::Int64(v)) => gather(
                    v,
                    rows,
                    row_len,
                    samples,
                    &mut t.extract_tensor_mut().1[target],
                ),
                (Self::Int32(t), Values::Int32(v)) => gather(
                    v,
                    rows,
                    row_len,
                    samples,
                    &mut t.extract_tensor_mut().1[target],
                ),
                (Self::Float32(t), Values::Float32(v)) => gather(
                    v,
                    rows,
                    row_len,
                    samples,
                    &mut t.extract_tensor_mut().1[target],
                ),
                _ => unreachable!("the element type was checked when resolved"),
            }
        }
    }

    /// Binds the tensor as the input `name`.
    pub fn bind(&self, binding: &mut IoBinding, name: &str) -> ort::Result<()> {
        match self {
            Self::Int64(t) => binding.bind_input(name, t),
            Self::Int32(t) => binding.bind_input(name, t),
            Self::Float32(t) => binding.bind_input(name, t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(dims: Vec<Option<usize>>, element: InputElement) -> ExtraInput {
        ExtraInput {
            name: "x".into(),
            element: Ok(element),
            dims,
            description: "x (test)".into(),
        }
    }

    #[test]
    fn shapes_and_dtypes_are_checked() {
        let array = |shape: Vec<usize>, values: Values| InputArray {
            source: "--input x=a.npy".into(),
            shape,
            values,
        };
        let model = input(vec![None, Some(2), Some(3)], InputElement::Float32);
        let ok = array(vec![1, 2, 3], Values::Float32(vec![0.0; 6]));
        ok.check(&model, 5).unwrap();
        array(vec![5, 2, 3], Values::Float32(vec![0.0; 30]))
            .check(&model, 5)
            .unwrap();
        let error = |a: InputArray| a.check(&model, 5).unwrap_err().to_string();
        assert!(
            error(array(vec![2, 2, 3], Values::Float32(vec![0.0; 12])))
                .contains("first dimension 2")
        );
        assert!(error(array(vec![1, 3, 2], Values::Float32(vec![0.0; 6]))).contains("dimension 1"));
        assert!(error(array(vec![1, 6], Values::Float32(vec![0.0; 6]))).contains("rank 2"));
        assert!(error(array(vec![1, 2, 3], Values::Int64(vec![0; 6]))).contains("dtype int64"));
    }

    #[test]
    fn rows_follow_the_global_sample_index() {
        let per_sample = [0i64, 1, 10, 11, 20, 21];
        let mut out = [0i64; 6];
        // Samples 1, 2 and a padding sample 3 (the last row again).
        gather(&per_sample, 3, 2, 1..4, &mut out);
        assert_eq!(out, [10, 11, 20, 21, 20, 21]);
        gather(&[-1, -2], 1, 2, 1..4, &mut out);
        assert_eq!(out, [-1, -2, -1, -2, -1, -2]);
        let array = |values: Vec<i64>| InputArray {
            source: String::new(),
            shape: vec![values.len()],
            values: Values::Int64(values),
        };
        let mut input = ModelInput {
            name: "x".into(),
            element: InputElement::Int64,
            row_shape: vec![],
            conditional: array(vec![3, 7]),
            unconditional: Some(array(vec![10])),
        };
        assert_eq!(input.array(Half::Conditional), &array(vec![3, 7]));
        assert_eq!(input.array(Half::Unconditional), &array(vec![10]));
        input.unconditional = None;
        assert_eq!(input.array(Half::Unconditional), &array(vec![3, 7]));
    }
}
