//! The optimisers on plain tensors: burn's SGD, momentum and Adam, operation for operation.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::lab::error::LabResult;
use crate::lab::model::Mlp;
use crate::lab::scene::OptimizerKind;

use super::scalar;

/// burn's Adam: the decay of its first moment, β₁. The batched sweep
/// trainers use these constants and [`AdamStep`] too: one Adam in the house.
pub const ADAM_B1: f32 = 0.9;
/// Adam's decay of its second moment, β₂.
pub const ADAM_B2: f32 = 0.999;
/// Adam's ε.
pub const ADAM_EPS: f32 = 1e-8;

/// The bias corrections of one Adam step, as burn applies them: the update
/// is `factor · m₁ / (√m₂ + eps)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// √(1 − β₂ᵗ) / (1 − β₁ᵗ).
    pub factor: f32,
    /// ε · √(1 − β₂ᵗ).
    pub eps: f32,
}

impl AdamStep {
    /// The corrections of the update at step `step` (from 0; Adam's time t is `step + 1`).
    pub fn at(step: u64) -> AdamStep {
        AdamStep::at_time(i32::try_from(step.saturating_add(1)).unwrap_or(i32::MAX))
    }

    /// The corrections at Adam's time `time` (from 1).
    pub fn at_time(time: i32) -> AdamStep {
        let c2 = (1.0 - ADAM_B2.powi(time)).sqrt();
        AdamStep {
            factor: c2 / (1.0 - ADAM_B1.powi(time)),
            eps: ADAM_EPS * c2,
        }
    }

    /// One parameter's Adam update on plain numbers: the moments `m1`, `m2`
    /// after gradient `g` (their first values when `first`), and the step to
    /// subtract before the learning rate. [`adam_moments`] is the same rule
    /// on tensors.
    #[inline(always)]
    pub fn update(self, m1: &mut f32, m2: &mut f32, g: f32, first: bool) -> f32 {
        if first {
            *m1 = g * (1.0 - ADAM_B1);
            *m2 = g * g * (1.0 - ADAM_B2);
        } else {
            *m1 = *m1 * ADAM_B1 + g * (1.0 - ADAM_B1);
            *m2 = *m2 * ADAM_B2 + g * g * (1.0 - ADAM_B2);
        }
        *m1 * self.factor / (m2.sqrt() + self.eps)
    }
}

/// A layer's weights and biases, or anything shaped like them (gradients,
/// moments).
pub(super) type LayerTensors<B> = (Tensor<B, 2>, Option<Tensor<B, 1>>);

/// An optimiser's state in burn's record format (see [`Optim::to_record`]).
pub(super) type OptimRecord<B> = (
    i32,
    Option<Vec<LayerTensors<B>>>,
    Option<Vec<(LayerTensors<B>, LayerTensors<B>)>>,
);

/// The optimiser and its state, per layer, on plain tensors: burn's SGD,
/// heavy-ball momentum and Adam, operation for operation, without the
/// autodiff graph its optimisers need their parameters to be on.
pub(super) enum Optim<B: Backend> {
    /// `w − η·g`.
    Sgd,
    /// `v = β·v + g` (`v = g` at first), then `w − η·v`.
    Momentum {
        beta: f32,
        velocity: Option<Vec<LayerTensors<B>>>,
    },
    /// Adam with burn's bias corrections.
    Adam {
        time: i32,
        moments: Option<Vec<(LayerTensors<B>, LayerTensors<B>)>>,
    },
}

impl<B: Backend> Optim<B> {
    pub(super) fn new(kind: OptimizerKind, momentum: f32) -> Self {
        match kind {
            OptimizerKind::Gd | OptimizerKind::Sgd => Optim::Sgd,
            OptimizerKind::Momentum => Optim::Momentum {
                beta: momentum,
                velocity: None,
            },
            OptimizerKind::Adam => Optim::Adam {
                time: 0,
                moments: None,
            },
        }
    }

    /// The optimiser's state as a burn record: Adam's time, momentum's
    /// velocity, Adam's moments (each `None` when not in use or not started).
    pub(super) fn to_record(&self) -> OptimRecord<B> {
        match self {
            Optim::Sgd => (0, None, None),
            Optim::Momentum { velocity, .. } => (0, velocity.clone(), None),
            Optim::Adam { time, moments } => (*time, None, moments.clone()),
        }
    }

    /// The optimiser of `kind` in the state `record` holds.
    pub(super) fn from_record(kind: OptimizerKind, momentum: f32, record: OptimRecord<B>) -> Self {
        let (time, velocity, moments) = record;
        match Optim::<B>::new(kind, momentum) {
            Optim::Sgd => Optim::Sgd,
            Optim::Momentum { beta, .. } => Optim::Momentum { beta, velocity },
            Optim::Adam { .. } => Optim::Adam { time, moments },
        }
    }

    /// Turns gradients into the steps to subtract (before the learning rate).
    fn directions(&mut self, grads: Vec<LayerTensors<B>>) -> Vec<LayerTensors<B>> {
        match self {
            Optim::Sgd => grads,
            Optim::Momentum { beta, velocity } => {
                let beta = *beta;
                let next: Vec<LayerTensors<B>> = match velocity.take() {
                    None => grads,
                    Some(previous) => grads
                        .into_iter()
                        .zip(previous)
                        .map(|((gw, gb), (vw, vb))| {
                            let b = match (gb, vb) {
                                (Some(g), Some(v)) => Some(g.add(v.mul_scalar(beta))),
                                (g, _) => g,
                            };
                            (gw.add(vw.mul_scalar(beta)), b)
                        })
                        .collect(),
                };
                *velocity = Some(next.clone());
                next
            }
            Optim::Adam { time, moments } => {
                *time += 1;
                let AdamStep { factor, eps } = AdamStep::at_time(*time);
                let previous = moments.take();
                let mut next = Vec::with_capacity(grads.len());
                let mut steps = Vec::with_capacity(grads.len());
                for (l, (gw, gb)) in grads.into_iter().enumerate() {
                    let prev = previous.as_ref().and_then(|p| p.get(l)).cloned();
                    let (pw, pb) = match prev {
                        Some(((m1w, m1b), (m2w, m2b))) => ((Some(m1w), Some(m2w)), (m1b, m2b)),
                        None => ((None, None), (None, None)),
                    };
                    let (m1w, m2w, sw) = adam_moments(gw, pw.0, pw.1, factor, eps);
                    let (b, bias_step) = match gb {
                        Some(g) => {
                            let (m1, m2, step) = adam_moments(g, pb.0, pb.1, factor, eps);
                            (Some((m1, m2)), Some(step))
                        }
                        None => (None, None),
                    };
                    let (m1b, m2b) = match b {
                        Some((m1, m2)) => (Some(m1), Some(m2)),
                        None => (None, None),
                    };
                    next.push(((m1w, m1b), (m2w, m2b)));
                    steps.push((sw, bias_step));
                }
                *moments = Some(next);
                steps
            }
        }
    }

    /// One update of `model` with `grads` at learning rate `lr`; with
    /// `measure`, the norm of each layer's update ‖η·d‖ (else none).
    pub(super) fn step(
        &mut self,
        lr: f32,
        model: &mut Mlp<B>,
        grads: Vec<LayerTensors<B>>,
        measure: bool,
    ) -> LabResult<Vec<f32>> {
        let directions = self.directions(grads);
        let mut norms = Vec::new();
        if measure {
            for (dw, db) in &directions {
                let mut sq = dw.clone().square().sum();
                if let Some(db) = db {
                    sq = sq.add(db.clone().square().sum());
                }
                norms.push(lr.abs() * scalar(sq, "the update's norm")?.sqrt());
            }
        }
        let layers = std::mem::take(&mut model.layers);
        model.layers = layers
            .into_iter()
            .zip(directions)
            .map(|(layer, (dw, db))| Linear {
                weight: descend(layer.weight, dw, lr),
                bias: match (layer.bias, db) {
                    (Some(b), Some(d)) => Some(descend(b, d, lr)),
                    (b, _) => b,
                },
            })
            .collect();
        Ok(norms)
    }
}

/// Adam's moments after gradient `g` and the step they give, as burn
/// computes them: `m₁ = β₁m₁ + (1−β₁)g`, `m₂ = β₂m₂ + (1−β₂)g²`, step
/// `factor·m₁ / (√m₂ + eps)` (with `factor` and `eps` of [`AdamStep`]).
pub(crate) fn adam_moments<B: Backend, const D: usize>(
    g: Tensor<B, D>,
    m1: Option<Tensor<B, D>>,
    m2: Option<Tensor<B, D>>,
    factor: f32,
    eps: f32,
) -> (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>) {
    let m1 = match m1 {
        Some(m) => m
            .mul_scalar(ADAM_B1)
            .add(g.clone().mul_scalar(1.0 - ADAM_B1)),
        None => g.clone().mul_scalar(1.0 - ADAM_B1),
    };
    let m2 = match m2 {
        Some(m) => m
            .mul_scalar(ADAM_B2)
            .add(g.square().mul_scalar(1.0 - ADAM_B2)),
        None => g.square().mul_scalar(1.0 - ADAM_B2),
    };
    let step = m1
        .clone()
        .mul_scalar(factor)
        .div(m2.clone().sqrt().add_scalar(eps));
    (m1, m2, step)
}

/// `w − η·d`, keeping the parameter's id; the parameter holds the only
/// reference to its tensor, so the backend may update it in place.
fn descend<B: Backend, const D: usize>(
    param: Param<Tensor<B, D>>,
    direction: Tensor<B, D>,
    lr: f32,
) -> Param<Tensor<B, D>> {
    param.map(|w| w - direction.mul_scalar(lr))
}
