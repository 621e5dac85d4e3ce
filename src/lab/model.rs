//! Networks ("gladiators"): a multi-layer perceptron generic over the burn backend.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData, activation, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::lab::rng::{self, LabRng, Stream};

/// The non-linearity of the hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Activation {
    /// max(0, z).
    Relu,
    /// tanh(z).
    Tanh,
    /// 1 / (1 + e^-z).
    Sigmoid,
    /// z · Φ(z), the exact (erf) form.
    Gelu,
    /// z: no non-linearity.
    Linear,
}

impl Activation {
    /// Every activation, for menus and error messages.
    pub const ALL: [Activation; 5] = [
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
        Activation::Linear,
    ];

    /// Applies the activation to a tensor.
    pub fn apply<B: Backend, const D: usize>(self, z: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Activation::Relu => activation::relu(z),
            Activation::Tanh => activation::tanh(z),
            Activation::Sigmoid => activation::sigmoid(z),
            Activation::Gelu => activation::gelu(z),
            Activation::Linear => z,
        }
    }

    /// The activation of one value, in double precision.
    pub fn eval(self, z: f64) -> f64 {
        match self {
            Activation::Relu => z.max(0.0),
            Activation::Tanh => z.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Gelu => 0.5 * z * (1.0 + libm::erf(z / std::f64::consts::SQRT_2)),
            Activation::Linear => z,
        }
    }

    /// The derivative at `z`, in double precision.
    pub fn derivative(self, z: f64) -> f64 {
        match self {
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Tanh => 1.0 - z.tanh().powi(2),
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-z).exp());
                s * (1.0 - s)
            }
            Activation::Gelu => {
                let cdf = 0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
                let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
                cdf + z * pdf
            }
            Activation::Linear => 1.0,
        }
    }

    /// Lower-case name, as shown in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Gelu => "gelu",
            Activation::Linear => "linear",
        }
    }
}

/// What the last layer does with its pre-activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutputKind {
    /// Class probabilities.
    Softmax,
    /// Raw values (regression).
    Linear,
}

/// How the initial weights are drawn. Biases start at zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum InitScheme {
    /// He (Kaiming) normal: N(0, 2 / fan_in), for relu-like units.
    He,
    /// Xavier (Glorot) uniform: U(±√(6 / (fan_in + fan_out))), for tanh and sigmoid.
    Xavier,
    /// U(-scale, scale).
    Uniform {
        /// Half-width of the interval.
        scale: f32,
    },
}

/// The shape and settings of a multi-layer perceptron.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input features.
    pub inputs: usize,
    /// Widths of the hidden layers, first to last.
    pub hidden: Vec<usize>,
    /// Output units.
    pub outputs: usize,
    /// Hidden non-linearity.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Output non-linearity.
    #[config(default = "OutputKind::Softmax")]
    pub output: OutputKind,
    /// Weight initialisation.
    #[config(default = "InitScheme::He")]
    pub init: InitScheme,
    /// Seed of the initial weights.
    #[config(default = 0)]
    pub seed: u64,
}

impl MlpConfig {
    /// Layer widths from input to output, such as `[64, 16, 2]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![self.inputs];
        s.extend(&self.hidden);
        s.push(self.outputs);
        s
    }

    /// Builds the network with weights drawn from `seed` (the same on every backend).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Mlp<B> {
        let mut r = rng::rng(self.seed, Stream::Init);
        let sizes = self.sizes();
        let layers = sizes
            .windows(2)
            .map(|w| {
                let (fan_in, fan_out) = (w[0], w[1]);
                let weights = draw_weights(&mut r, self.init, fan_in, fan_out);
                let biases = vec![0.0; fan_out];
                linear_from(fan_in, fan_out, weights, biases, device)
            })
            .collect();
        Mlp {
            layers,
            activation: self.activation,
            output: self.output,
        }
    }
}

fn draw_weights(r: &mut LabRng, init: InitScheme, fan_in: usize, fan_out: usize) -> Vec<f32> {
    use rand::RngExt;
    let n = fan_in * fan_out;
    match init {
        InitScheme::He => {
            let std = (2.0 / fan_in as f32).sqrt();
            (0..n).map(|_| rng::normal(r) * std).collect()
        }
        InitScheme::Xavier => {
            let a = (6.0 / (fan_in + fan_out) as f32).sqrt();
            (0..n).map(|_| r.random_range(-a..=a)).collect()
        }
        InitScheme::Uniform { scale } => {
            let a = scale.abs().max(f32::MIN_POSITIVE);
            (0..n).map(|_| r.random_range(-a..=a)).collect()
        }
    }
}

/// A linear layer holding the given weights (`[inputs][outputs]`, row-major) and biases.
pub fn linear_from<B: Backend>(
    inputs: usize,
    outputs: usize,
    weights: Vec<f32>,
    biases: Vec<f32>,
    device: &B::Device,
) -> Linear<B> {
    Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(weights, [inputs, outputs]),
            device,
        )),
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(biases, [outputs]),
            device,
        ))),
    }
}

/// A multi-layer perceptron: linear layers with a shared hidden activation.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// The layers, input side first. Weights are `[inputs, outputs]`.
    pub layers: Vec<Linear<B>>,
    /// Hidden non-linearity.
    #[module(skip)]
    pub activation: Activation,
    /// Output non-linearity.
    #[module(skip)]
    pub output: OutputKind,
}

/// Pre- and post-activations of one layer.
#[derive(Debug, Clone)]
pub struct LayerTrace<B: Backend> {
    /// z = x·W + b.
    pub pre: Tensor<B, 2>,
    /// The activation of z (softmax or identity for the last layer).
    pub post: Tensor<B, 2>,
}

impl<B: Backend> Mlp<B> {
    /// The last layer's pre-activations (logits for a softmax network).
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs]`
    /// - output: `[batch, outputs]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (i, layer)| {
            let z = layer.forward(h);
            if i == last {
                z
            } else {
                self.activation.apply(z)
            }
        })
    }

    /// The network's answer: class probabilities, or values for a linear output.
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs]`
    /// - output: `[batch, outputs]`
    pub fn predict(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.output_activation(self.forward(x))
    }

    /// Applies the output non-linearity to last-layer pre-activations.
    ///
    /// # Shapes
    /// - `z`: `[batch, outputs]`
    /// - output: `[batch, outputs]`
    pub fn output_activation(&self, z: Tensor<B, 2>) -> Tensor<B, 2> {
        match self.output {
            OutputKind::Softmax => activation::softmax(z, 1),
            OutputKind::Linear => z,
        }
    }

    /// Every layer's pre- and post-activations.
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs]`
    /// - layer `l` of the output: `pre` and `post` are `[batch, sizes[l + 1]]`
    pub fn forward_trace(&self, x: Tensor<B, 2>) -> Vec<LayerTrace<B>> {
        let last = self.layers.len() - 1;
        let mut h = x;
        let mut trace = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let pre = layer.forward(h);
            let post = if i == last {
                self.output_activation(pre.clone())
            } else {
                self.activation.apply(pre.clone())
            };
            h = post.clone();
            trace.push(LayerTrace { pre, post });
        }
        trace
    }

    /// Layer widths from input to output.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = Vec::with_capacity(self.layers.len() + 1);
        for (i, layer) in self.layers.iter().enumerate() {
            let [inputs, outputs] = layer.weight.dims();
            if i == 0 {
                s.push(inputs);
            }
            s.push(outputs);
        }
        s
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.num_params()
    }
}

/// Plain-data weights of one layer, for computing without tensors.
#[derive(Debug, Clone, Copy)]
pub struct DenseRef<'a> {
    /// Inputs of the layer.
    pub inputs: usize,
    /// Outputs of the layer.
    pub outputs: usize,
    /// `[inputs][outputs]`, row-major: `weights[i * outputs + j]` joins input i to output j.
    pub weights: &'a [f32],
    /// One per output.
    pub biases: &'a [f32],
}

/// Pre- and post-activations of every layer for one sample, in double precision.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainTrace {
    /// z per layer.
    pub pre: Vec<Vec<f64>>,
    /// Activation per layer (probabilities for a softmax output).
    pub post: Vec<Vec<f64>>,
}

/// The forward pass of one sample on plain weights: the same function as
/// [`Mlp::forward_trace`], for the math view, drawings and derivative checks.
pub fn plain_forward(
    layers: &[DenseRef<'_>],
    activation: Activation,
    output: OutputKind,
    x: &[f32],
) -> PlainTrace {
    let mut h: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut trace = PlainTrace {
        pre: Vec::with_capacity(layers.len()),
        post: Vec::with_capacity(layers.len()),
    };
    for (l, layer) in layers.iter().enumerate() {
        let mut z: Vec<f64> = layer.biases.iter().map(|&b| f64::from(b)).collect();
        for (i, hi) in h.iter().enumerate().take(layer.inputs) {
            let row = &layer.weights[i * layer.outputs..(i + 1) * layer.outputs];
            for (zj, w) in z.iter_mut().zip(row) {
                *zj += hi * f64::from(*w);
            }
        }
        let post = if l + 1 == layers.len() {
            match output {
                OutputKind::Softmax => softmax(&z),
                OutputKind::Linear => z.clone(),
            }
        } else {
            z.iter().map(|&v| activation.eval(v)).collect()
        };
        h = post.clone();
        trace.pre.push(z);
        trace.post.push(post);
    }
    trace
}

/// A numerically stable softmax.
pub fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::CpuBackend;

    fn config() -> MlpConfig {
        MlpConfig::new(3, vec![5, 4], 2).with_seed(11)
    }

    #[test]
    fn init_is_deterministic_and_seeded() {
        let device = Default::default();
        let weights = |c: &MlpConfig| {
            c.init::<CpuBackend>(&device).layers[0]
                .weight
                .val()
                .into_data()
                .to_vec::<f32>()
                .unwrap()
        };
        assert_eq!(weights(&config()), weights(&config()));
        assert_ne!(weights(&config()), weights(&config().with_seed(12)));
    }

    #[test]
    fn init_schemes_have_the_right_scale() {
        let device = Default::default();
        let spread = |init| {
            let m = MlpConfig::new(400, vec![], 300)
                .with_init(init)
                .init::<CpuBackend>(&device);
            let w = m.layers[0]
                .weight
                .val()
                .into_data()
                .to_vec::<f32>()
                .unwrap();
            let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
            (var, w.iter().fold(0.0f32, |a, v| a.max(v.abs())))
        };
        let (he_var, _) = spread(InitScheme::He);
        assert!(
            (he_var - 2.0 / 400.0).abs() < 0.1 * 2.0 / 400.0,
            "He variance {he_var}"
        );
        let (_, xavier_max) = spread(InitScheme::Xavier);
        let bound = (6.0f32 / 700.0).sqrt();
        assert!(
            xavier_max <= bound && xavier_max > 0.95 * bound,
            "Xavier max {xavier_max}"
        );
        let (_, uni_max) = spread(InitScheme::Uniform { scale: 0.05 });
        assert!(uni_max <= 0.05 && uni_max > 0.049);
    }

    #[test]
    fn plain_forward_matches_the_tensor_forward() {
        let device = Default::default();
        for act in Activation::ALL {
            for output in [OutputKind::Softmax, OutputKind::Linear] {
                let m = config()
                    .with_activation(act)
                    .with_output(output)
                    .init::<CpuBackend>(&device);
                let x = [0.3f32, -1.2, 0.7];
                let input = Tensor::<CpuBackend, 2>::from_data(
                    TensorData::new(x.to_vec(), [1, 3]),
                    &device,
                );
                let trace = m.forward_trace(input);
                let weights: Vec<(Vec<f32>, Vec<f32>, [usize; 2])> = m
                    .layers
                    .iter()
                    .map(|l| {
                        (
                            l.weight.val().into_data().to_vec().unwrap(),
                            l.bias.as_ref().unwrap().val().into_data().to_vec().unwrap(),
                            l.weight.dims(),
                        )
                    })
                    .collect();
                let refs: Vec<DenseRef> = weights
                    .iter()
                    .map(|(w, b, [i, o])| DenseRef {
                        inputs: *i,
                        outputs: *o,
                        weights: w,
                        biases: b,
                    })
                    .collect();
                let plain = plain_forward(&refs, act, output, &x);
                for (l, t) in trace.iter().enumerate() {
                    let pre = t.pre.clone().into_data().to_vec::<f32>().unwrap();
                    let post = t.post.clone().into_data().to_vec::<f32>().unwrap();
                    for (a, b) in pre.iter().zip(&plain.pre[l]) {
                        assert!(
                            (f64::from(*a) - b).abs() < 1e-5,
                            "{act:?} pre {l}: {a} vs {b}"
                        );
                    }
                    for (a, b) in post.iter().zip(&plain.post[l]) {
                        assert!(
                            (f64::from(*a) - b).abs() < 1e-5,
                            "{act:?} post {l}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn activation_derivatives_match_finite_differences() {
        for act in Activation::ALL {
            for z in [-2.1, -0.4, 0.3, 1.7] {
                let h = 1e-6;
                let fd = (act.eval(z + h) - act.eval(z - h)) / (2.0 * h);
                assert!((fd - act.derivative(z)).abs() < 1e-6, "{act:?} at {z}");
            }
        }
    }

    #[test]
    fn sizes_and_parameter_count() {
        let m = MlpConfig::new(64, vec![16], 2).init::<CpuBackend>(&Default::default());
        assert_eq!(m.sizes(), vec![64, 16, 2]);
        assert_eq!(m.parameter_count(), 64 * 16 + 16 + 16 * 2 + 2);
    }
}
