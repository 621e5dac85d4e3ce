//! The objective and its gradients: derived by hand for plain networks, through autodiff otherwise; the PDE objective and weight penalties.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData, activation};

use crate::lab::model::{Activation, Mlp, OutputKind};
use crate::lab::scene::LossKind;

use super::Trainer;

impl<B: AutodiffBackend> Trainer<B> {
    /// A copy of the network on the autodiff backend, every parameter
    /// tracked: for objectives whose gradients are not derived by hand.
    pub(super) fn tracked(&self) -> Mlp<B> {
        fn track<B: AutodiffBackend, const D: usize>(
            p: &Param<Tensor<B::InnerBackend, D>>,
        ) -> Param<Tensor<B, D>> {
            Param::initialized(p.id, Tensor::from_inner(p.val()).require_grad())
        }
        Mlp {
            layers: self
                .model
                .layers
                .iter()
                .map(|l| Linear {
                    weight: track::<B, 2>(&l.weight),
                    bias: l.bias.as_ref().map(track::<B, 1>),
                })
                .collect(),
            config: self.model.config.clone(),
        }
    }

    /// Whether this network's gradients are derived by hand ([`by_hand`]):
    /// plain data (no PDE), no weight penalty, and a loss whose derivative
    /// is written out. Anything else goes through autodiff.
    pub(super) fn by_hand(&self) -> bool {
        let train = &self.scene.train;
        self.data.pde.is_none() && train.l1 == 0.0 && train.l2 == 0.0 && self.probe_by_hand()
    }

    /// Whether the probe's error signals are derived by hand: they are those
    /// of its data loss alone, whatever the training objective adds.
    pub(super) fn probe_by_hand(&self) -> bool {
        match self.scene.loss() {
            LossKind::CrossEntropy => true,
            LossKind::Mse => self.model.output() == OutputKind::Linear,
            LossKind::L1 | LossKind::Residual => false,
        }
    }

    /// The objective and its gradients through burn's autodiff: the PDE
    /// objective, weight penalties, and losses without a hand derivative.
    pub(super) fn by_autodiff(
        &self,
        x: Tensor<B::InnerBackend, 2>,
        targets: Tensor<B::InnerBackend, 2>,
        batch: Option<&[usize]>,
        masks: &[Tensor<B::InnerBackend, 2>],
        capture: bool,
    ) -> Backprop<B::InnerBackend> {
        let model = self.tracked();
        let x = Tensor::<B, 2>::from_inner(x);
        let targets = Tensor::<B, 2>::from_inner(targets);
        let masks: Vec<Tensor<B, 2>> = masks.iter().cloned().map(Tensor::from_inner).collect();
        let trace = capture.then(|| model.forward_trace_masked(x.clone(), &masks));
        let data_loss = match &self.data.pde {
            Some(pde) => {
                let all: Vec<usize>;
                let idx = match batch {
                    Some(idx) => idx,
                    None => {
                        all = (0..self.data.train.len()).collect();
                        &all
                    }
                };
                pde_objective(&model, pde, x, targets, idx)
            }
            None => {
                let z = match &trace {
                    Some(t) => t[t.len() - 1].pre.clone(),
                    None => model.forward_masked(x, &masks),
                };
                per_sample_loss(self.scene.loss(), model.output(), z, targets).mean()
            }
        };
        let loss = data_loss + penalty(&model, self.scene.train.l1, self.scene.train.l2);
        let value = loss.clone().inner();
        let grads = loss.backward();
        let device = &self.device;
        let grads = model
            .layers
            .iter()
            .map(|layer| {
                let [inputs, outputs] = layer.weight.dims();
                let weight = layer
                    .weight
                    .grad(&grads)
                    .unwrap_or_else(|| Tensor::zeros([inputs, outputs], device));
                let bias = layer.bias.as_ref().map(|b| {
                    b.grad(&grads)
                        .unwrap_or_else(|| Tensor::zeros([outputs], device))
                });
                (weight, bias)
            })
            .collect();
        Backprop {
            loss: value,
            grads,
            posts: trace
                .map(|t| t.into_iter().map(|l| l.post.inner()).collect())
                .unwrap_or_default(),
            signals: Vec::new(),
        }
    }
}

/// The physics-informed objective of a batch of a PDE's training points (their
/// indices in `idx`): the mean squared residual `L[u] − f` over its
/// collocation points plus `boundary_weight` times the mean squared error
/// `u − g` over its boundary points (a batch without boundary points has no
/// boundary term). `L[u]` uses the network's exact input derivatives.
///
/// # Shapes
/// - `x`: `[batch, inputs]`
/// - `targets`: `[batch, 1]`: `f` at collocation points, `g` at boundary points
/// - output: `[1]`
pub(super) fn pde_objective<B: Backend>(
    model: &Mlp<B>,
    pde: &crate::lab::data::PdeTask,
    x: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    idx: &[usize],
) -> Tensor<B, 1> {
    use crate::lab::data::Operator;
    let device = x.device();
    let d = model.forward_with_input_derivatives(x);
    let lhs = match pde.operator {
        Operator::Laplacian => d
            .d2u
            .iter()
            .cloned()
            .reduce(|a, b| a + b)
            .unwrap_or_else(|| d.u.zeros_like()),
        Operator::Decay { rate } => match d.du.first() {
            Some(du) => du.clone() + d.u.clone().mul_scalar(rate),
            None => d.u.zeros_like(),
        },
    };
    let boundary: Vec<f32> = idx
        .iter()
        .map(|&i| if i >= pde.boundary_start { 1.0 } else { 0.0 })
        .collect();
    let n_boundary = boundary.iter().filter(|b| **b > 0.0).count();
    let n_interior = idx.len() - n_boundary;
    let on_boundary = Tensor::<B, 2>::from_data(TensorData::new(boundary, [idx.len(), 1]), &device);
    let inside = on_boundary.clone().neg().add_scalar(1.0);
    let residual = (lhs - targets.clone()).powi_scalar(2).mul(inside).sum();
    let mut total = residual.div_scalar(n_interior.max(1) as f32);
    if n_boundary > 0 {
        let misfit = (d.u - targets).powi_scalar(2).mul(on_boundary).sum();
        total = total
            + misfit
                .div_scalar(n_boundary as f32)
                .mul_scalar(pde.boundary_weight);
    }
    total
}

/// The weight penalties of `model`: `l1 · Σ|w| + l2 · Σw²` (biases are free).
pub(super) fn penalty<B: Backend>(model: &Mlp<B>, l1: f32, l2: f32) -> Tensor<B, 1> {
    let device = model.layers[0].weight.val().device();
    let mut total = Tensor::<B, 1>::zeros([1], &device);
    for layer in &model.layers {
        let w = layer.weight.val();
        if l2 > 0.0 {
            total = total + w.clone().powi_scalar(2).sum().mul_scalar(l2);
        }
        if l1 > 0.0 {
            total = total + w.abs().sum().mul_scalar(l1);
        }
    }
    total
}

/// A mini-batch's objective and its gradients, however they were derived.
pub(super) struct Backprop<B: Backend> {
    /// The objective (data loss and penalties), `[1]`.
    pub(super) loss: Tensor<B, 1>,
    /// Per layer: the gradients of its weights and of its biases (none for
    /// [`Keep::Signals`]).
    pub(super) grads: Vec<(Tensor<B, 2>, Option<Tensor<B, 1>>)>,
    /// Per layer: its outputs over the batch, when a frame is captured.
    pub(super) posts: Vec<Tensor<B, 2>>,
    /// Per layer, when asked for: its pre-activations and the loss's
    /// derivative with respect to them (the error signals).
    pub(super) signals: Vec<(Tensor<B, 2>, Tensor<B, 2>)>,
}

/// What [`by_hand`] keeps besides the gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keep {
    /// The gradients alone.
    Gradients,
    /// Each layer's outputs too (for a frame's mean activations).
    Posts,
    /// Each layer's outputs, pre-activations and error signals, and no
    /// gradients (for the probe).
    Signals,
}

/// The loss of a plain network and its gradients, derived by hand: one
/// forward pass keeping each layer's input, then the chain rule layer by
/// layer. It does what autodiff does for these networks without recording a
/// graph, which for small networks costs more than the arithmetic. The loss
/// must be cross-entropy, or the squared error of a linear output. Hidden
/// layer `l`'s outputs are multiplied by `masks[l]` where there is one
/// (dropout); the kept posts are before the mask.
///
/// # Shapes
/// - `x`: `[batch, inputs]`; `targets`: `[batch, outputs]`
/// - `masks[l]`: `[batch, sizes[l + 1]]`
pub(super) fn by_hand<B: Backend>(
    model: &Mlp<B>,
    kind: LossKind,
    x: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    masks: &[Tensor<B, 2>],
    keep: Keep,
) -> Backprop<B> {
    let keep_posts = keep != Keep::Gradients;
    let last = model.layers.len() - 1;
    let [batch, outputs] = targets.dims();
    let mut inputs = Vec::with_capacity(model.layers.len());
    let mut pres = Vec::with_capacity(model.layers.len());
    let mut posts = Vec::new();
    let mut h = x;
    for (i, layer) in model.layers.iter().enumerate() {
        let mut z = h.clone().matmul(layer.weight.val());
        if let Some(b) = &layer.bias {
            z = z + b.val().unsqueeze_dim(0);
        }
        let scale = model.scale(i);
        if scale != 1.0 {
            z = z.mul_scalar(scale);
        }
        inputs.push(h);
        h = if i == last {
            z.clone()
        } else {
            model.activation(i).apply(z.clone())
        };
        if keep_posts {
            posts.push(if i == last {
                model.output_activation(z.clone())
            } else {
                h.clone()
            });
        }
        if i < last {
            h = crate::lab::model::masked(h, masks.get(i));
        }
        pres.push(z);
    }
    // The loss and its derivative with respect to the last pre-activation.
    let z = h;
    let (loss, mut dz) = match kind {
        LossKind::CrossEntropy => {
            let log_p = activation::log_softmax(z, 1);
            let loss = (targets.clone() * log_p.clone()).sum_dim(1).neg().mean();
            // d/dz of −Σ t·log softmax(z) is softmax(z)·Σt − t.
            let dz = log_p.exp() * targets.clone().sum_dim(1) - targets;
            (loss, dz.div_scalar(batch as f32))
        }
        _ => {
            let diff = z - targets;
            let loss = diff.clone().powi_scalar(2).mean_dim(1).mean();
            (loss, diff.mul_scalar(2.0 / (batch * outputs) as f32))
        }
    };
    let mut grads = Vec::with_capacity(model.layers.len());
    let mut signals = Vec::new();
    for i in (0..=last).rev() {
        if keep == Keep::Signals {
            signals.push((pres[i].clone(), dz.clone()));
        }
        let scale = model.scale(i);
        if scale != 1.0 {
            dz = dz.mul_scalar(scale);
        }
        let layer = &model.layers[i];
        let input = inputs.pop().unwrap_or_else(|| dz.zeros_like());
        // The probe wants its error signals alone: its weight gradients would
        // be a matrix product as large as the network for nothing.
        if keep != Keep::Signals {
            let weight = input.transpose().matmul(dz.clone());
            let bias = layer
                .bias
                .as_ref()
                .map(|_| dz.clone().sum_dim(0).squeeze_dim::<1>(0));
            grads.push((weight, bias));
        }
        if i > 0 {
            let dh = crate::lab::model::masked(
                dz.matmul(layer.weight.val().transpose()),
                masks.get(i - 1),
            );
            let pre = pres[i - 1].clone();
            dz = match model.activation(i - 1) {
                Activation::Relu => dh.mask_fill(pre.lower_equal_elem(0.0), 0.0),
                Activation::Linear => dh,
                other => dh * other.derivatives(pre).0,
            };
        }
    }
    grads.reverse();
    signals.reverse();
    Backprop {
        loss,
        grads,
        posts,
        signals,
    }
}

/// Per-sample data loss.
///
/// # Shapes
/// - `z`: `[batch, outputs]`, the last layer's pre-activations
/// - `targets`: `[batch, outputs]`, one-hot for classification
/// - output: `[batch, 1]`
pub fn per_sample_loss<B: Backend>(
    kind: LossKind,
    output: OutputKind,
    z: Tensor<B, 2>,
    targets: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let out = || match output {
        OutputKind::Softmax => activation::softmax(z.clone(), 1),
        OutputKind::Linear => z.clone(),
    };
    match kind {
        LossKind::CrossEntropy => (targets * activation::log_softmax(z.clone(), 1))
            .sum_dim(1)
            .neg(),
        // A PDE's test targets are its exact solution: per sample, the squared error.
        LossKind::Mse | LossKind::Residual => (out() - targets).powi_scalar(2).mean_dim(1),
        LossKind::L1 => (out() - targets).abs().mean_dim(1),
    }
}
