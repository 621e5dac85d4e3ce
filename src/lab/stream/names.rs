//! Tensor names of the stream format: which layer a tensor belongs to, what
//! it is, and the layout its framework keeps it in.

use std::cmp::Ordering;

/// What a tensor of a layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// The weight matrix.
    Weight,
    /// The bias vector.
    Bias,
    /// ∂L/∂W.
    WeightGrad,
    /// ∂L/∂b.
    BiasGrad,
    /// Probe inputs (`probe.input`), not a layer's.
    Probe,
}

/// How a framework lays a weight matrix out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Convention {
    /// PyTorch's `nn.Linear.weight`: `[out, in]`.
    OutIn,
    /// Flax's `Dense.kernel`: `[in, out]`.
    InOut,
}

/// A tensor's name, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TensorName {
    /// The name as written.
    pub full: String,
    /// The layer's part of it (`net.0`, `params.Dense_1`), separators as dots.
    pub layer: String,
    /// What the tensor is.
    pub part: Part,
    /// Its weight layout (for weights and their gradients).
    pub convention: Convention,
}

impl TensorName {
    /// Reads `name`; `None` when it follows no convention the format knows.
    pub(super) fn parse(name: &str) -> Option<TensorName> {
        let dotted = name.replace('/', ".");
        if dotted == "probe.input" {
            return Some(TensorName {
                full: name.to_string(),
                layer: String::new(),
                part: Part::Probe,
                convention: Convention::OutIn,
            });
        }
        const SUFFIXES: [(&str, Part, Convention); 6] = [
            (".weight.grad", Part::WeightGrad, Convention::OutIn),
            (".kernel.grad", Part::WeightGrad, Convention::InOut),
            (".bias.grad", Part::BiasGrad, Convention::OutIn),
            (".weight", Part::Weight, Convention::OutIn),
            (".kernel", Part::Weight, Convention::InOut),
            (".bias", Part::Bias, Convention::OutIn),
        ];
        SUFFIXES.iter().find_map(|&(suffix, part, convention)| {
            let layer = dotted.strip_suffix(suffix)?;
            (!layer.is_empty()).then(|| TensorName {
                full: name.to_string(),
                layer: layer.to_string(),
                part,
                convention,
            })
        })
    }
}

/// A layer name ordered naturally: runs of digits by their value, so that
/// `2` comes before `10` and `Dense_9` before `Dense_10`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NaturalKey(Vec<Chunk>, String);

/// A run of digits or of other characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Chunk {
    /// Digits, by value (then by length, so `01` and `1` stay apart).
    Number(u128, usize),
    /// Anything else.
    Text(String),
}

impl NaturalKey {
    /// The key of `name`.
    pub(super) fn of(name: &str) -> NaturalKey {
        let mut chunks = Vec::new();
        let mut rest = name;
        while let Some(c) = rest.chars().next() {
            let digit = c.is_ascii_digit();
            let end = rest
                .find(|x: char| x.is_ascii_digit() != digit)
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(end);
            chunks.push(if digit {
                Chunk::Number(run.parse().unwrap_or(u128::MAX), run.len())
            } else {
                Chunk::Text(run.to_string())
            });
            rest = tail;
        }
        NaturalKey(chunks, name.to_string())
    }

    /// The name it was made from.
    pub(super) fn text(&self) -> &str {
        &self.1
    }
}

impl Ord for NaturalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0).then_with(|| self.1.cmp(&other.1))
    }
}

impl PartialOrd for NaturalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
