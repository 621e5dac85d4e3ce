//! Evaluation: loss and accuracy on the full training and test sets.

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};

use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::Metrics;
use crate::lab::model::Mlp;
use crate::lab::scene::LossKind;

use super::backprop::{pde_objective, per_sample_loss};
use super::batch::SplitTensors;
use super::{Trainer, scalar, values};

/// Largest number of samples pushed through the network at once during evaluation.
const EVAL_CHUNK: usize = 2048;

impl<B: AutodiffBackend> Trainer<B> {
    /// Loss and accuracy on the full training and test sets, with the
    /// learning rate and batch size in force.
    pub fn evaluate(&self) -> LabResult<Metrics> {
        let model = &self.model;
        let kind = self.scene.loss();
        let mut train = eval_split(model, kind, &self.train)?;
        let test = eval_split(model, kind, &self.test)?;
        let mut solution_error = None;
        if let Some(pde) = &self.data.pde {
            // The training loss of a PINN is its objective: residual and boundary terms.
            let all: Vec<usize> = (0..self.train.len).collect();
            let objective = pde_objective(
                model,
                pde,
                self.train.x.clone(),
                self.train.targets.clone(),
                &all,
            );
            train.mean_loss = scalar(objective, "the PDE residual")?;
            // The test targets are the exact solution: its largest error.
            let worst = test.losses.iter().fold(0.0f64, |m, l| m.max(*l));
            solution_error = Some(worst.sqrt() as f32);
        }
        let generalization_error = (self.data.train_region.is_some() && self.data.pde.is_none())
            .then(|| {
                if self.test_outside.is_empty() {
                    f32::NAN
                } else {
                    let sum: f64 = self.test_outside.iter().map(|&i| test.losses[i]).sum();
                    (sum / self.test_outside.len() as f64) as f32
                }
            });
        let mut m = Metrics {
            train_loss: Some(train.mean_loss),
            test_loss: Some(test.mean_loss),
            train_accuracy: train.accuracy,
            test_accuracy: test.accuracy,
            generalization_error,
            solution_error,
            learning_rate: Some(self.scene.train.learning_rate),
            batch_size: Some(self.batch_size() as f32),
            ..Metrics::at(self.step)
        };
        if m.is_diverged() {
            m.status = crate::lab::frame::RunStatus::Diverged;
        }
        Ok(m)
    }
}

struct SplitEval {
    mean_loss: f32,
    accuracy: Option<f32>,
    losses: Vec<f64>,
}

fn eval_split<B: Backend>(
    model: &Mlp<B>,
    kind: LossKind,
    split: &SplitTensors<B>,
) -> LabResult<SplitEval> {
    let mut losses = Vec::with_capacity(split.len);
    let mut correct = 0usize;
    let mut start = 0;
    while start < split.len {
        let end = (start + EVAL_CHUNK).min(split.len);
        let x = split.x.clone().narrow(0, start, end - start);
        let t = split.targets.clone().narrow(0, start, end - start);
        let z = model.forward(x);
        if let Some(labels) = &split.labels {
            let predicted: Tensor<B, 2, Int> = z.clone().argmax(1);
            let predicted = predicted
                .into_data()
                .convert::<i64>()
                .to_vec::<i64>()
                .map_err(|e| LabError::tensor("the predicted classes", format!("{e:?}")))?;
            if predicted.len() != end - start {
                return Err(LabError::tensor(
                    "the predicted classes",
                    format!("{} classes for {} samples", predicted.len(), end - start),
                ));
            }
            correct += predicted
                .iter()
                .zip(&labels[start..end])
                .filter(|(p, l)| **p == i64::from(**l))
                .count();
        }
        let l = per_sample_loss(kind, model.output(), z, t);
        losses.extend(values(l, "per-sample losses")?.into_iter().map(f64::from));
        start = end;
    }
    let mean_loss = (losses.iter().sum::<f64>() / losses.len().max(1) as f64) as f32;
    Ok(SplitEval {
        mean_loss,
        accuracy: split
            .labels
            .as_ref()
            .map(|_| correct as f32 / split.len.max(1) as f32),
        losses,
    })
}
