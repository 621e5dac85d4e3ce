//! The stream format: a network at a step as one safetensors file, the same
//! bytes on disk (a checkpoint) and on a socket (a message).
//!
//! A message holds each layer's weights and biases, optionally their
//! gradients and probe inputs, and named scalars. Tensors are named as
//! PyTorch names an `nn.Sequential` of `nn.Linear` (`0.weight`, shape
//! `[out, in]`; `0.bias`), or as Flax names `Dense` layers (`Dense_0/kernel`,
//! shape `[in, out]`; `Dense_0/bias`), under any prefix (`net.`, `params/`).
//! Gradients add `.grad` (`0.weight.grad`), probe inputs are `probe.input`
//! (`[n, in]`). The `__metadata__` carries `step`, `activations` (the hidden
//! layers', such as `relu,relu`), `output` (`softmax` or `linear`) and every
//! scalar under its own name (`loss`, `accuracy`, `reward`...).

mod adopt;
mod logged;
mod names;

use std::collections::{BTreeMap, HashMap};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::lab::error::{LabError, LabResult};
use crate::lab::model::{Activation, MlpConfig, OutputKind};
pub use adopt::{adopted_scene, check_fits, data_scene};
pub use logged::{LoggedMetrics, read_logged_metrics};
use names::{Convention, Part, TensorName};

/// The format's name, written as `format` in the metadata of what this
/// project writes (a PyTorch file says `pt` there, which reads as well).
pub const STREAM_FORMAT: &str = "nnm-stream";
/// The format's version.
pub const STREAM_VERSION: u32 = 1;

/// A tensor of a message: its name read, its shape and its values.
type Named = (TensorName, Vec<usize>, Vec<f32>);

/// Metadata keys that are not scalars.
const RESERVED: [&str; 5] = ["format", "version", "step", "activations", "output"];

/// One layer's parameters in the lab's layout: weights row-major
/// `[inputs][outputs]`, as frames hold them.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerTensors {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// `inputs × outputs` weights, row-major.
    pub weights: Vec<f32>,
    /// `outputs` biases (zeros for a layer without them).
    pub biases: Vec<f32>,
    /// ∂L/∂w, in the weights' layout, when sent.
    pub weight_grads: Option<Vec<f32>>,
    /// ∂L/∂b, when sent.
    pub bias_grads: Option<Vec<f32>>,
    /// The tensor the weights came from (for error messages).
    pub name: String,
}

/// A network at a step: what one checkpoint file or one message holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetworkMessage {
    /// The training step.
    pub step: u64,
    /// The weight layers, input side first.
    pub layers: Vec<LayerTensors>,
    /// Probe inputs, one row of `inputs` values each.
    pub probe_inputs: Vec<Vec<f32>>,
    /// The hidden layers' non-linearities, when the sender said.
    pub activations: Option<Vec<Activation>>,
    /// The output's non-linearity, when the sender said.
    pub output: Option<OutputKind>,
    /// Named numbers (loss, accuracy, reward...), in name order.
    pub scalars: BTreeMap<String, f64>,
    /// Other metadata that is not a number, kept as provenance.
    pub notes: BTreeMap<String, String>,
}

impl NetworkMessage {
    /// Layer widths, input first: `[in, h1, ..., out]` (empty without layers).
    pub fn sizes(&self) -> Vec<usize> {
        match self.layers.first() {
            Some(first) => std::iter::once(first.inputs)
                .chain(self.layers.iter().map(|l| l.outputs))
                .collect(),
            None => Vec::new(),
        }
    }

    /// An error unless this message can follow one of step `last` in a
    /// stream: its step must be later.
    pub fn check_follows(&self, last: Option<u64>, origin: &str) -> LabResult<()> {
        match last {
            Some(last) if self.step <= last => Err(LabError::stream(
                origin,
                format!(
                    "step {} comes after step {last}: a stream's steps must increase",
                    self.step
                ),
            )),
            _ => Ok(()),
        }
    }

    /// An error unless this message's layers have the widths `sizes` (the
    /// run's network).
    pub fn check_widths(&self, sizes: &[usize], origin: &str) -> LabResult<()> {
        match self.sizes() == sizes {
            true => Ok(()),
            false => Err(LabError::stream(
                origin,
                format!(
                    "its layers have widths {:?}, but the run's network has {sizes:?}",
                    self.sizes()
                ),
            )),
        }
    }

    /// The network these tensors make, its widths read from their shapes;
    /// `activation` and `output` stand in for what the message does not say.
    pub fn architecture(&self, activation: Activation, output: OutputKind) -> MlpConfig {
        let hidden = self.layers.len().saturating_sub(1);
        let activations = self
            .activations
            .clone()
            .unwrap_or_else(|| vec![activation; hidden]);
        MlpConfig::new(self.sizes(), activations).with_output(self.output.unwrap_or(output))
    }

    /// The message as safetensors bytes, in PyTorch's naming and layout
    /// (`layers.i.weight`, `[out, in]`).
    pub fn encode(&self) -> LabResult<Vec<u8>> {
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let (n_in, n_out) = (layer.inputs, layer.outputs);
            tensors.push((
                format!("layers.{i}.weight"),
                vec![n_out, n_in],
                le_bytes(&transpose(&layer.weights, n_in, n_out)),
            ));
            tensors.push((
                format!("layers.{i}.bias"),
                vec![n_out],
                le_bytes(&layer.biases),
            ));
            if let Some(g) = &layer.weight_grads {
                tensors.push((
                    format!("layers.{i}.weight.grad"),
                    vec![n_out, n_in],
                    le_bytes(&transpose(g, n_in, n_out)),
                ));
            }
            if let Some(g) = &layer.bias_grads {
                tensors.push((format!("layers.{i}.bias.grad"), vec![n_out], le_bytes(g)));
            }
        }
        if !self.probe_inputs.is_empty() {
            let width = self.probe_inputs[0].len();
            let flat: Vec<f32> = self.probe_inputs.iter().flatten().copied().collect();
            tensors.push((
                "probe.input".into(),
                vec![self.probe_inputs.len(), width],
                le_bytes(&flat),
            ));
        }
        let mut views = Vec::with_capacity(tensors.len());
        for (name, shape, bytes) in &tensors {
            let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map_err(|e| LabError::stream("message", format!("tensor `{name}`: {e}")))?;
            views.push((name.clone(), view));
        }
        let mut metadata: HashMap<String, String> = HashMap::new();
        metadata.insert("format".into(), STREAM_FORMAT.into());
        metadata.insert("version".into(), STREAM_VERSION.to_string());
        metadata.insert("step".into(), self.step.to_string());
        if let Some(acts) = &self.activations {
            let names: Vec<&str> = acts.iter().map(|a| a.label()).collect();
            metadata.insert("activations".into(), names.join(","));
        }
        if let Some(output) = self.output {
            metadata.insert("output".into(), output_label(output).into());
        }
        for (name, value) in &self.scalars {
            if RESERVED.contains(&name.as_str()) {
                return Err(LabError::stream(
                    "message",
                    format!("`{name}` is reserved and cannot name a scalar"),
                ));
            }
            metadata.insert(name.clone(), value.to_string());
        }
        for (name, text) in &self.notes {
            metadata.entry(name.clone()).or_insert_with(|| text.clone());
        }
        safetensors::tensor::serialize(views, Some(metadata))
            .map_err(|e| LabError::stream("message", e.to_string()))
    }

    /// Reads a message (a checkpoint's bytes) from `origin` (a file name or a
    /// peer, for errors). The step is the metadata's, else `step`.
    pub fn decode(bytes: &[u8], origin: &str, step: Option<u64>) -> LabResult<NetworkMessage> {
        let fail = |message: String| LabError::stream(origin, message);
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| fail(format!("not a safetensors message ({e})")))?;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| fail(format!("not a safetensors message ({e})")))?;
        let mut entries = Vec::new();
        for (name, view) in tensors.tensors() {
            let values = f32_values(&view).map_err(|m| fail(format!("tensor `{name}`: {m}")))?;
            entries.push((name, view.shape().to_vec(), values));
        }
        let metadata = header.metadata().clone().unwrap_or_default();
        Self::from_tensors(entries, metadata, origin, step)
    }

    /// Reads a numpy `.npz` archive (`np.savez(path, **state_dict)`): its
    /// arrays are the tensors, named as in a safetensors message; its 0-d
    /// arrays (`step=np.array(120)`, `loss=...`, `activations=np.array("relu,relu")`)
    /// are the metadata.
    pub fn decode_npz(bytes: &[u8], origin: &str, step: Option<u64>) -> LabResult<NetworkMessage> {
        let arrays =
            crate::lab::data::npy::read_npz(bytes).map_err(|m| LabError::stream(origin, m))?;
        let mut entries = Vec::new();
        let mut metadata = HashMap::new();
        for (name, array) in arrays {
            match array {
                crate::lab::data::npy::NpyArray::Numbers {
                    shape,
                    values,
                    integer,
                } if shape.iter().product::<usize>() == 1 && TensorName::parse(&name).is_none() => {
                    let v = values.first().copied().unwrap_or(f32::NAN);
                    // An integer exactly (a step past 2²⁴ stays itself); a
                    // float step as the whole number it holds.
                    let text = match (integer, name.as_str()) {
                        (Some(i), _) => i.to_string(),
                        (None, "step") => format!("{}", v as u64),
                        (None, _) => v.to_string(),
                    };
                    metadata.insert(name, text);
                }
                crate::lab::data::npy::NpyArray::Numbers { shape, values, .. } => {
                    entries.push((name, shape, values))
                }
                crate::lab::data::npy::NpyArray::Text(text) => {
                    metadata.insert(name, text);
                }
            }
        }
        Self::from_tensors(entries, metadata, origin, step)
    }

    /// The message of named tensors (shape, values) and metadata.
    fn from_tensors(
        mut entries: Vec<(String, Vec<usize>, Vec<f32>)>,
        metadata: HashMap<String, String>,
        origin: &str,
        step: Option<u64>,
    ) -> LabResult<NetworkMessage> {
        let fail = |message: String| LabError::stream(origin, message);
        let mut message = NetworkMessage::default();
        let given_step = message_step(metadata.get("step"), origin)?;
        read_metadata(&mut message, metadata, origin)?;
        message.step = match (given_step, step) {
            (Some(s), _) | (None, Some(s)) => s,
            (None, None) => {
                return Err(fail(
                    "no step: put `step` in the metadata, or a number in the file name".into(),
                ));
            }
        };
        let mut named: Vec<Named> = Vec::new();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, shape, values) in entries {
            let parsed = TensorName::parse(&name).ok_or_else(|| {
                fail(format!(
                    "unknown tensor `{name}`: expected PyTorch names (`0.weight`, `0.bias`), \
                     Flax names (`Dense_0/kernel`, `Dense_0/bias`), `.grad` after either, \
                     or `probe.input`"
                ))
            })?;
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(fail(format!(
                    "tensor `{name}` holds {} at index {i}: a message must be finite",
                    values[i]
                )));
            }
            named.push((parsed, shape, values));
        }
        message.layers = assemble_layers(named.iter(), origin)?;
        message.probe_inputs = probe_rows(&named, message.layers.first(), origin)?;
        Ok(message)
    }
}

/// Reads the activations, the output and the scalars from the metadata.
fn read_metadata(
    message: &mut NetworkMessage,
    metadata: HashMap<String, String>,
    origin: &str,
) -> LabResult<()> {
    let fail = |message: String| LabError::stream(origin, message);
    let mut metadata: Vec<(String, String)> = metadata.into_iter().collect();
    metadata.sort();
    for (key, text) in metadata {
        match key.as_str() {
            "format" | "step" => {}
            "version" => {
                if let Ok(v) = text.trim().parse::<u32>()
                    && v > STREAM_VERSION
                {
                    return Err(fail(format!(
                        "metadata `version`: {v} is a newer stream format than this nnm reads ({STREAM_VERSION}); update nnm"
                    )));
                }
            }
            "activations" => {
                let acts = text
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| {
                        Activation::from_label(t)
                            .map_err(|e| fail(format!("metadata `activations`: {e}")))
                    })
                    .collect::<LabResult<Vec<_>>>()?;
                message.activations = Some(acts);
            }
            "output" => {
                message.output = Some(match text.trim().to_ascii_lowercase().as_str() {
                    "softmax" => OutputKind::Softmax,
                    "linear" => OutputKind::Linear,
                    other => {
                        return Err(fail(format!(
                            "metadata `output`: `{other}` is neither `softmax` nor `linear`"
                        )));
                    }
                });
            }
            _ => match text.trim().parse::<f64>() {
                Ok(v) => {
                    message.scalars.insert(key, v);
                }
                Err(_) => {
                    message.notes.insert(key, text);
                }
            },
        }
    }
    Ok(())
}

/// The metadata's step, if it has one.
fn message_step(text: Option<&String>, origin: &str) -> LabResult<Option<u64>> {
    let Some(text) = text else {
        return Ok(None);
    };
    text.trim().parse::<u64>().map(Some).map_err(|_| {
        LabError::stream(
            origin,
            format!("metadata `step`: `{text}` is not a whole number"),
        )
    })
}

/// The step a file's name gives: its last run of digits (`ckpt_000120.safetensors`: 120).
pub fn step_from_file_name(name: &str) -> Option<u64> {
    let stem = name.rsplit('/').next().unwrap_or(name);
    let stem = stem.split('.').next().unwrap_or(stem);
    let digits: String = stem
        .chars()
        .rev()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

/// A tensor's values as f32 (from f32 or f64, little-endian).
fn f32_values(view: &TensorView<'_>) -> Result<Vec<f32>, String> {
    let data = view.data();
    match view.dtype() {
        Dtype::F32 => Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        Dtype::F64 => Ok(data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect()),
        other => Err(format!(
            "{other:?} values are not read: save float32 or float64 tensors"
        )),
    }
}

/// The layers, in the natural order of their names, chained: each layer's
/// inputs are the previous one's outputs.
fn assemble_layers<'a>(
    named: impl Iterator<Item = &'a Named>,
    origin: &str,
) -> LabResult<Vec<LayerTensors>> {
    let fail = |message: String| LabError::stream(origin, message);
    let mut groups: BTreeMap<names::NaturalKey, Vec<&'a Named>> = BTreeMap::new();
    for entry in named.filter(|(n, _, _)| n.part != Part::Probe) {
        groups
            .entry(names::NaturalKey::of(&entry.0.layer))
            .or_default()
            .push(entry);
    }
    let mut layers: Vec<LayerTensors> = Vec::with_capacity(groups.len());
    for (key, parts) in groups {
        let find = |part: Part| parts.iter().find(|(n, _, _)| n.part == part);
        let Some((wname, wshape, wvalues)) = find(Part::Weight) else {
            let any = &parts[0].0.full;
            return Err(fail(format!(
                "tensor `{any}` belongs to layer `{}`, which has no weight",
                key.text()
            )));
        };
        let [n_in, n_out] = match (wname.convention, wshape.as_slice()) {
            (Convention::OutIn, &[o, i]) => [i, o],
            (Convention::InOut, &[i, o]) => [i, o],
            _ => {
                return Err(fail(format!(
                    "tensor `{}` has shape {wshape:?}: a weight has two dimensions",
                    wname.full
                )));
            }
        };
        let weights = in_out(wvalues, wname.convention, n_in, n_out);
        let vector = |part: Part| -> LabResult<Option<Vec<f32>>> {
            match find(part) {
                None => Ok(None),
                Some((_, shape, values)) if shape.as_slice() == [n_out] => Ok(Some(values.clone())),
                Some((n, shape, _)) => Err(fail(format!(
                    "tensor `{}` has shape {shape:?}, but `{}` {wshape:?} has {n_out} outputs",
                    n.full, wname.full
                ))),
            }
        };
        let weight_grads = match find(Part::WeightGrad) {
            None => None,
            Some((n, shape, values)) if shape == wshape => {
                Some(in_out(values, n.convention, n_in, n_out))
            }
            Some((n, shape, _)) => {
                return Err(fail(format!(
                    "tensor `{}` has shape {shape:?}, but its weight `{}` has {wshape:?}",
                    n.full, wname.full
                )));
            }
        };
        if let Some(previous) = layers.last()
            && previous.outputs != n_in
        {
            return Err(fail(format!(
                "shapes do not chain: `{}` has shape {wshape:?} ({n_in} inputs), but the layer \
                 before it, `{}`, has {} outputs",
                wname.full, previous.name, previous.outputs
            )));
        }
        layers.push(LayerTensors {
            inputs: n_in,
            outputs: n_out,
            weights,
            biases: vector(Part::Bias)?.unwrap_or_else(|| vec![0.0; n_out]),
            weight_grads,
            bias_grads: vector(Part::BiasGrad)?,
            name: wname.full.clone(),
        });
    }
    if layers.is_empty() {
        return Err(fail(
            "no weights: a message holds at least one layer".into(),
        ));
    }
    Ok(layers)
}

/// The probe inputs, one row each, checked against the first layer's inputs.
fn probe_rows(
    named: &[Named],
    first: Option<&LayerTensors>,
    origin: &str,
) -> LabResult<Vec<Vec<f32>>> {
    let Some((name, shape, values)) = named.iter().find(|(n, _, _)| n.part == Part::Probe) else {
        return Ok(Vec::new());
    };
    let inputs = first.map_or(0, |l| l.inputs);
    let width = match shape.as_slice() {
        [w] | [_, w] => *w,
        _ => 0,
    };
    if width != inputs || inputs == 0 {
        return Err(LabError::stream(
            origin,
            format!(
                "tensor `{}` has shape {shape:?}, but the network takes {inputs} inputs",
                name.full
            ),
        ));
    }
    Ok(values.chunks(width).map(<[f32]>::to_vec).collect())
}

/// Weights into the lab's `[inputs][outputs]` layout.
fn in_out(values: &[f32], convention: Convention, n_in: usize, n_out: usize) -> Vec<f32> {
    match convention {
        Convention::InOut => values.to_vec(),
        // [out][in] row-major: the transpose of what the lab keeps.
        Convention::OutIn => transpose(values, n_out, n_in),
    }
}

/// The transpose of a `rows × cols` row-major matrix.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            if let (Some(v), Some(slot)) = (values.get(r * cols + c), out.get_mut(c * rows + r)) {
                *slot = *v;
            }
        }
    }
    out
}

/// Little-endian bytes of f32 values.
fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The metadata's name of an output.
fn output_label(output: OutputKind) -> &'static str {
    match output {
        OutputKind::Softmax => "softmax",
        OutputKind::Linear => "linear",
    }
}

#[cfg(test)]
mod tests;
