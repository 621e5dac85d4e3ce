//! Networks ("gladiators"): a multi-layer perceptron generic over the burn backend.

mod activations;
mod dropout;
mod plain;

pub use dropout::{MAX_DROPOUT, dropout_mask, kept_units};

pub use activations::{Activation, OutputKind};
pub use plain::{DenseRef, PlainTrace, plain_forward, plain_forward_f64, softmax};

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData, activation, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::lab::rng::{self, LabRng, Stream};

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
    /// N(0, std²), whatever the fan-in (mean-field networks use std 1).
    Normal {
        /// Standard deviation.
        std: f32,
    },
}

/// A multi-layer perceptron, described once: its layer widths,
/// non-linearities, output, biases, pre-activation factors and initial
/// weights. A scene resolves to it ([`crate::lab::Scene::mlp_config`]), it
/// builds the burn module ([`MlpConfig::init`]) and the initial parameters of
/// the batched sweep trainers, groups of a sweep share it, and recordings
/// carry it (in [`crate::lab::Topology`]). A network whose weights come from
/// elsewhere is described by its widths alone: `MlpConfig::new(sizes,
/// activations)`.
#[derive(Config, Debug, PartialEq)]
pub struct MlpConfig {
    /// Layer widths from input to output, such as `[64, 16, 2]`.
    pub sizes: Vec<usize>,
    /// Each hidden layer's non-linearity, input side first (a layer past
    /// the end is linear).
    pub activations: Vec<Activation>,
    /// Output non-linearity.
    #[config(default = "OutputKind::Softmax")]
    pub output: OutputKind,
    /// Layers have biases.
    #[config(default = true)]
    pub bias: bool,
    /// Factor of each weight layer's pre-activation (empty: 1 everywhere).
    #[config(default = "Vec::new()")]
    pub scales: Vec<f32>,
    /// Weight initialisation.
    #[config(default = "InitScheme::He")]
    pub init: InitScheme,
    /// Seed of the initial weights.
    #[config(default = 0)]
    pub seed: u64,
}

impl MlpConfig {
    /// Input features.
    pub fn inputs(&self) -> usize {
        self.sizes.first().copied().unwrap_or(0)
    }

    /// Output units.
    pub fn outputs(&self) -> usize {
        self.sizes.last().copied().unwrap_or(0)
    }

    /// Widths of the hidden layers, first to last.
    pub fn hidden(&self) -> &[usize] {
        match self.sizes.len() {
            0..=2 => &[],
            n => &self.sizes[1..n - 1],
        }
    }

    /// Number of weight layers.
    pub fn layer_count(&self) -> usize {
        self.sizes.len().saturating_sub(1)
    }

    /// Hidden layer `l`'s non-linearity (linear past the hidden layers).
    pub fn activation(&self, l: usize) -> Activation {
        self.activations
            .get(l)
            .copied()
            .unwrap_or(Activation::Linear)
    }

    /// The factor of weight layer `l`'s pre-activation.
    pub fn scale(&self, l: usize) -> f32 {
        self.scales.get(l).copied().unwrap_or(1.0)
    }

    /// Number of weights (synapses), biases excluded.
    pub fn synapse_count(&self) -> usize {
        self.sizes.windows(2).map(|w| w[0] * w[1]).sum()
    }

    /// Number of neurons, inputs included.
    pub fn neuron_count(&self) -> usize {
        self.sizes.iter().sum()
    }

    /// Number of parameters: weights, and biases where layers have them.
    pub fn parameter_count(&self) -> usize {
        self.sizes
            .windows(2)
            .map(|w| w[0] * w[1] + if self.bias { w[1] } else { 0 })
            .sum()
    }

    /// Where each layer's weights and biases start in the flat parameters
    /// (per layer, the weights `[inputs][outputs]` row-major, then the biases).
    pub fn offsets(&self) -> Vec<(usize, usize)> {
        let mut at = 0;
        self.sizes
            .windows(2)
            .map(|w| {
                let weights = at;
                at += w[0] * w[1];
                let biases = at;
                if self.bias {
                    at += w[1];
                }
                (weights, biases)
            })
            .collect()
    }

    /// The network without the settings of its initial weights (seed and
    /// scheme): what the models of a sweep that train as one batch share.
    pub fn architecture(&self) -> MlpConfig {
        MlpConfig {
            init: InitScheme::He,
            seed: 0,
            ..self.clone()
        }
    }

    /// The initial weights (`[inputs][outputs]`, row-major) and biases of each
    /// layer, drawn from `seed`: what [`MlpConfig::init`] puts in tensors, for
    /// code that trains without them.
    pub fn initial_parameters(&self) -> Vec<(Vec<f32>, Option<Vec<f32>>)> {
        let mut r = rng::rng(self.seed, Stream::Init);
        self.sizes
            .windows(2)
            .map(|w| {
                let (fan_in, fan_out) = (w[0], w[1]);
                let weights = draw_weights(&mut r, self.init, fan_in, fan_out);
                (weights, self.bias.then(|| vec![0.0; fan_out]))
            })
            .collect()
    }

    /// The initial parameters as one flat vector, in [`MlpConfig::offsets`] order.
    pub fn initial_flat_parameters(&self) -> Vec<f32> {
        self.initial_parameters()
            .into_iter()
            .flat_map(|(w, b)| w.into_iter().chain(b.unwrap_or_default()))
            .collect()
    }

    /// Builds the network with weights drawn from `seed` (the same on every backend).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Mlp<B> {
        let layers = self
            .sizes
            .windows(2)
            .zip(self.initial_parameters())
            .map(|(w, (weights, biases))| linear_from(w[0], w[1], weights, biases, device))
            .collect::<Vec<_>>();
        Mlp {
            layers,
            config: self.clone(),
        }
    }
}

/// The non-linearity of each of `hidden` layers: `per_layer` when it names
/// one for each, else `all` everywhere.
pub fn hidden_activations(
    all: Activation,
    per_layer: &[Activation],
    hidden: usize,
) -> Vec<Activation> {
    if per_layer.len() == hidden {
        per_layer.to_vec()
    } else {
        vec![all; hidden]
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
        InitScheme::Normal { std } => (0..n).map(|_| rng::normal(r) * std).collect(),
    }
}

/// A linear layer holding the given weights (`[inputs][outputs]`, row-major)
/// and biases (`None`: a layer without bias).
pub fn linear_from<B: Backend>(
    inputs: usize,
    outputs: usize,
    weights: Vec<f32>,
    biases: Option<Vec<f32>>,
    device: &B::Device,
) -> Linear<B> {
    Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(weights, [inputs, outputs]),
            device,
        )),
        bias: biases
            .map(|b| Param::from_tensor(Tensor::from_data(TensorData::new(b, [outputs]), device))),
    }
}

/// A multi-layer perceptron: linear layers, each hidden one with its own non-linearity.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// The layers, input side first. Weights are `[inputs, outputs]`.
    pub layers: Vec<Linear<B>>,
    /// What the network is: its non-linearities, output and factors (the
    /// widths are the layers').
    #[module(skip)]
    pub config: MlpConfig,
}

/// A network's output and its derivatives with respect to its inputs.
#[derive(Debug, Clone)]
pub struct InputDerivatives<B: Backend> {
    /// The first output, `[batch, 1]`.
    pub u: Tensor<B, 2>,
    /// `∂u/∂x_d` for each input `d`, each `[batch, 1]`.
    pub du: Vec<Tensor<B, 2>>,
    /// `∂²u/∂x_d²` for each input `d`, each `[batch, 1]`.
    pub d2u: Vec<Tensor<B, 2>>,
}

/// Pre- and post-activations of one layer.
#[derive(Debug, Clone)]
pub struct LayerTrace<B: Backend> {
    /// z = x·W + b.
    pub pre: Tensor<B, 2>,
    /// The activation of z (softmax or identity for the last layer), before
    /// any dropout mask.
    pub post: Tensor<B, 2>,
}

impl<B: Backend> Mlp<B> {
    /// The last layer's pre-activations (logits for a softmax network).
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs]`
    /// - output: `[batch, outputs]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.forward_masked(x, &[])
    }

    /// [`Mlp::forward`] in training mode: hidden layer `l`'s outputs are
    /// multiplied by `masks[l]` (dropout) before the next layer reads them.
    /// Layers without a mask (all of them for an empty `masks`) are kept whole.
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs]`; `masks[l]`: `[batch, sizes[l + 1]]`
    /// - output: `[batch, outputs]`
    pub fn forward_masked(&self, x: Tensor<B, 2>, masks: &[Tensor<B, 2>]) -> Tensor<B, 2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (i, layer)| {
            let z = self.pre_activation(i, layer, h);
            if i == last {
                z
            } else {
                masked(self.activation(i).apply(z), masks.get(i))
            }
        })
    }

    /// Hidden layer `l`'s non-linearity.
    pub fn activation(&self, l: usize) -> Activation {
        self.config.activation(l)
    }

    /// Layer `i`'s pre-activation, scaled: `s_i · (h·W + b)`.
    fn pre_activation(&self, i: usize, layer: &Linear<B>, h: Tensor<B, 2>) -> Tensor<B, 2> {
        let z = layer.forward(h);
        let s = self.config.scale(i);
        if s == 1.0 { z } else { z.mul_scalar(s) }
    }

    /// The factor of layer `i`'s pre-activation.
    pub fn scale(&self, i: usize) -> f32 {
        self.config.scale(i)
    }

    /// Output non-linearity.
    pub fn output(&self) -> OutputKind {
        self.config.output
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
        match self.config.output {
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
        self.forward_trace_masked(x, &[])
    }

    /// [`Mlp::forward_trace`] in training mode, with the dropout `masks` of
    /// [`Mlp::forward_masked`]; each trace's `post` is before its mask.
    ///
    /// # Shapes
    /// - as [`Mlp::forward_trace`]; `masks[l]`: `[batch, sizes[l + 1]]`
    pub fn forward_trace_masked(
        &self,
        x: Tensor<B, 2>,
        masks: &[Tensor<B, 2>],
    ) -> Vec<LayerTrace<B>> {
        let last = self.layers.len() - 1;
        let mut h = x;
        let mut trace = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let pre = self.pre_activation(i, layer, h);
            let post = if i == last {
                self.output_activation(pre.clone())
            } else {
                self.activation(i).apply(pre.clone())
            };
            h = masked(post.clone(), masks.get(i));
            trace.push(LayerTrace { pre, post });
        }
        trace
    }

    /// The first output and its exact first and second derivatives with
    /// respect to each input, carried forward through the layers as ordinary
    /// tensor operations (forward mode by hand), so that first-order autodiff
    /// gives their parameter gradients. For a hidden layer with `z = h·W + b`
    /// and `a = f(z)`: `z′ = h′·W`, `z″ = h″·W`, `a′ = f′(z)·z′` and
    /// `a″ = f″(z)·z′² + f′(z)·z″`. The output layer is taken as linear.
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs]`
    /// - output: `u` is `[batch, 1]`; `du[d]` and `d2u[d]` are `[batch, 1]`,
    ///   the derivatives along input `d` (`∂u/∂x_d` and `∂²u/∂x_d²`)
    pub fn forward_with_input_derivatives(&self, x: Tensor<B, 2>) -> InputDerivatives<B> {
        let [batch, inputs] = x.dims();
        let device = x.device();
        let last = self.layers.len() - 1;
        let mut h = x;
        let mut d1: Vec<Tensor<B, 2>> = (0..inputs)
            .map(|d| {
                let mut unit = vec![0.0f32; inputs];
                unit[d] = 1.0;
                Tensor::<B, 1>::from_data(TensorData::new(unit, [inputs]), &device)
                    .unsqueeze::<2>()
                    .repeat_dim(0, batch)
            })
            .collect();
        let mut d2: Vec<Tensor<B, 2>> = (0..inputs)
            .map(|_| Tensor::zeros([batch, inputs], &device))
            .collect();
        for (i, layer) in self.layers.iter().enumerate() {
            let s = self.scale(i);
            let w = layer.weight.val().mul_scalar(s);
            let z = self.pre_activation(i, layer, h);
            let z1: Vec<Tensor<B, 2>> = d1.iter().map(|t| t.clone().matmul(w.clone())).collect();
            let z2: Vec<Tensor<B, 2>> = d2.iter().map(|t| t.clone().matmul(w.clone())).collect();
            if i == last {
                let first = |t: Tensor<B, 2>| t.narrow(1, 0, 1);
                return InputDerivatives {
                    u: first(z),
                    du: z1.into_iter().map(first).collect(),
                    d2u: z2.into_iter().map(first).collect(),
                };
            }
            let (f1, f2) = self.activation(i).derivatives(z.clone());
            d2 = z1
                .iter()
                .zip(z2)
                .map(|(a, b)| f2.clone().mul(a.clone().powi_scalar(2)) + f1.clone().mul(b))
                .collect();
            d1 = z1.into_iter().map(|a| f1.clone().mul(a)).collect();
            h = self.activation(i).apply(z);
        }
        unreachable!("an MLP has at least one layer")
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

/// `h` times its dropout mask, if it has one.
pub(crate) fn masked<B: Backend>(h: Tensor<B, 2>, mask: Option<&Tensor<B, 2>>) -> Tensor<B, 2> {
    match mask {
        Some(m) => h.mul(m.clone()),
        None => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::CpuBackend;

    fn config() -> MlpConfig {
        MlpConfig::new(vec![3, 5, 4, 2], vec![Activation::Relu; 2]).with_seed(11)
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
            let m = MlpConfig::new(vec![400, 300], Vec::new())
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
                let mut m = config();
                m.activations = vec![act; 2];
                let m = m.with_output(output).init::<CpuBackend>(&device);
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
                        scale: 1.0,
                    })
                    .collect();
                let plain = plain_forward(&refs, &[act; 2], output, &x);
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
        let m = MlpConfig::new(vec![64, 16, 2], vec![Activation::Relu])
            .init::<CpuBackend>(&Default::default());
        assert_eq!(m.sizes(), vec![64, 16, 2]);
        assert_eq!(m.parameter_count(), 64 * 16 + 16 + 16 * 2 + 2);
    }

    /// The plain weights of a tensor network, for the f64 reference.
    fn plain_layers<B: Backend>(m: &Mlp<B>) -> Vec<(usize, usize, Vec<f32>, Vec<f32>)> {
        m.layers
            .iter()
            .map(|l| {
                let [i, o] = l.weight.dims();
                let w = l.weight.val().into_data().to_vec::<f32>().unwrap();
                let b = l
                    .bias
                    .as_ref()
                    .unwrap()
                    .val()
                    .into_data()
                    .to_vec::<f32>()
                    .unwrap();
                (i, o, w, b)
            })
            .collect()
    }

    #[test]
    fn input_derivatives_match_finite_differences() {
        let device = Default::default();
        for act in Activation::ALL {
            for inputs in [1usize, 2] {
                let m = MlpConfig::new(vec![inputs, 7, 5, 1], vec![act; 2])
                    .with_output(OutputKind::Linear)
                    .with_init(InitScheme::Xavier)
                    .with_seed(3)
                    .init::<CpuBackend>(&device);
                let points: Vec<f32> = (0..4 * inputs).map(|k| 0.37 * k as f32 - 0.6).collect();
                let x = Tensor::<CpuBackend, 2>::from_data(
                    TensorData::new(points.clone(), [4, inputs]),
                    &device,
                );
                let d = m.forward_with_input_derivatives(x);
                let get =
                    |t: &Tensor<CpuBackend, 2>| t.clone().into_data().to_vec::<f32>().unwrap();
                let layers = plain_layers(&m);
                let refs: Vec<DenseRef> = layers
                    .iter()
                    .map(|(i, o, w, b)| DenseRef {
                        inputs: *i,
                        outputs: *o,
                        weights: w,
                        biases: b,
                        scale: 1.0,
                    })
                    .collect();
                let u = |p: &[f64]| {
                    plain_forward_f64(&refs, &[act; 2], OutputKind::Linear, p).post[2][0]
                };
                const H: f64 = 1e-4;
                for k in 0..4 {
                    let p: Vec<f64> = points[k * inputs..(k + 1) * inputs]
                        .iter()
                        .map(|v| f64::from(*v))
                        .collect();
                    assert!((f64::from(get(&d.u)[k]) - u(&p)).abs() < 1e-5);
                    for dim in 0..inputs {
                        let at = |h: f64| {
                            let mut q = p.clone();
                            q[dim] += h;
                            u(&q)
                        };
                        let fd1 = (at(H) - at(-H)) / (2.0 * H);
                        let fd2 = (at(H) - 2.0 * at(0.0) + at(-H)) / (H * H);
                        let (d1, d2) = (
                            f64::from(get(&d.du[dim])[k]),
                            f64::from(get(&d.d2u[dim])[k]),
                        );
                        let close = |a: f64, b: f64| (a - b).abs() <= 1e-3 * b.abs().max(1e-2);
                        assert!(
                            close(d1, fd1),
                            "{act:?} {inputs}D du/dx{dim}: {d1} vs {fd1}"
                        );
                        if act != Activation::Relu {
                            assert!(
                                close(d2, fd2),
                                "{act:?} {inputs}D d2u/dx{dim}²: {d2} vs {fd2}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn second_derivatives_of_activations_match_finite_differences() {
        for act in Activation::ALL {
            for z in [-1.3, -0.2, 0.4, 2.1] {
                let h = 1e-5;
                let fd = (act.derivative(z + h) - act.derivative(z - h)) / (2.0 * h);
                assert!(
                    (act.second_derivative(z) - fd).abs() < 1e-6,
                    "{act:?} at {z}"
                );
            }
        }
    }
}
