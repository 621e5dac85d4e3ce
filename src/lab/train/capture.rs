//! Frames: the state before an update, with the probe sample followed forward and backward.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};

use crate::lab::error::LabResult;
use crate::lab::frame::Metrics;
use crate::lab::frame::{Frame, LayerFrame, LayerStats, Probe, sum_squares};
use crate::lab::model::Activation;

use super::backprop::{Backprop, Keep, by_hand, per_sample_loss};
use super::batch::target_row;
use super::{Trainer, scalar, values};

impl<B: AutodiffBackend> Trainer<B> {
    pub(super) fn capture(
        &self,
        backprop: &Backprop<B::InnerBackend>,
        batch_loss: f32,
        batch_size: usize,
    ) -> LabResult<Frame> {
        let probe = self.probe_pass()?;
        let mut grad_sq = 0.0f64;
        let mut layers = Vec::with_capacity(self.model.layers.len());
        let mut stats = Vec::with_capacity(self.model.layers.len());
        let hidden = self.model.layers.len().saturating_sub(1);
        for (l, (layer, (weight, bias_grad))) in
            self.model.layers.iter().zip(&backprop.grads).enumerate()
        {
            let [inputs, outputs] = layer.weight.dims();
            let weight_grads = values(weight.clone(), "weight gradients")?;
            let bias = layer.bias.as_ref();
            let bias_grads = match bias_grad {
                Some(g) => values(g.clone(), "bias gradients")?,
                None => vec![0.0; outputs],
            };
            grad_sq += sum_squares(&weight_grads) + sum_squares(&bias_grads);
            let frame = LayerFrame {
                inputs,
                outputs,
                weights: values(layer.weight.val(), "weights")?,
                biases: match bias {
                    Some(b) => values(b.val(), "biases")?,
                    None => vec![0.0; outputs],
                },
                weight_grads,
                bias_grads,
                pre_activations: probe.pre[l].clone(),
                activations: probe.post[l].clone(),
                mean_activations: match backprop.posts.get(l) {
                    Some(post) => values(post.clone().mean_dim(0), "mean activations")?,
                    None => vec![0.0; outputs],
                },
                probe_grads: probe.dz[l].clone(),
                scale: self.model.scale(l),
            };
            let posts = match backprop.posts.get(l) {
                Some(post) => values(post.clone(), "activations")?,
                None => Vec::new(),
            };
            let relu = l < hidden && self.model.activation(l) == Activation::Relu;
            stats.push(LayerStats::measure(&frame, &posts, relu));
            layers.push(frame);
        }
        Ok(Frame {
            step: self.step,
            metrics: Metrics {
                batch_loss: Some(batch_loss),
                learning_rate: Some(self.scene.train.learning_rate),
                batch_size: Some(batch_size as f32),
                grad_norm: Some(grad_sq.sqrt() as f32),
                ..Metrics::at(self.step)
            },
            evaluation: None,
            probe: probe.probe,
            layers,
            stats,
        })
    }

    /// Follows the probe sample through the network, forward and backward.
    fn probe_pass(&self) -> LabResult<ProbePass> {
        let index = self
            .scene
            .view
            .probe
            .min(self.data.test.len().saturating_sub(1));
        let input = self.data.test_input(index).to_vec();
        let target = target_row(&self.data, &self.data.test, index);
        let probe = |output: Vec<f32>, loss: f32| Probe {
            index,
            input: input.clone(),
            target: target.clone(),
            label: self.data.test.label(index),
            output,
            loss,
        };
        if self.probe_by_hand() {
            let x = Tensor::<B::InnerBackend, 2>::from_data(
                TensorData::new(input.clone(), [1, input.len()]),
                &self.device,
            );
            let t = Tensor::<B::InnerBackend, 2>::from_data(
                TensorData::new(target.clone(), [1, target.len()]),
                &self.device,
            );
            let pass = by_hand(&self.model, self.scene.loss(), x, t, &[], Keep::Signals);
            let loss = scalar(pass.loss, "the probe's loss")?;
            let mut pre = Vec::with_capacity(pass.signals.len());
            let mut dz = Vec::with_capacity(pass.signals.len());
            for (z, error) in pass.signals {
                pre.push(values(z, "the probe's pre-activations")?);
                dz.push(values(error, "the probe's error signals")?);
            }
            let post = pass
                .posts
                .into_iter()
                .map(|p| values(p, "the probe's activations"))
                .collect::<LabResult<Vec<_>>>()?;
            let output = post.last().cloned().unwrap_or_default();
            return Ok(ProbePass {
                probe: probe(output, loss),
                pre,
                post,
                dz,
            });
        }
        let x = Tensor::<B, 2>::from_data(
            TensorData::new(input.clone(), [1, input.len()]),
            &self.device,
        );
        let t = Tensor::<B, 2>::from_data(
            TensorData::new(target.clone(), [1, target.len()]),
            &self.device,
        );
        // A copy whose every layer has a bias (zero where the network has
        // none): for one sample ∂L/∂b = s·∂L/∂z, so the bias gradients give
        // the error signals.
        let mut model = self.tracked();
        for layer in &mut model.layers {
            if layer.bias.is_none() {
                let [_, outputs] = layer.weight.dims();
                layer.bias = Some(burn::module::Param::from_tensor(Tensor::zeros(
                    [outputs],
                    &self.device,
                )));
            }
        }
        let trace = model.forward_trace(x);
        let z = trace[trace.len() - 1].pre.clone();
        let loss = per_sample_loss(self.scene.loss(), model.output(), z, t).mean();
        let probe_loss = scalar(loss.clone(), "the probe's loss")?;
        let grads = loss.backward();
        let mut dz = Vec::with_capacity(model.layers.len());
        for (l, layer) in model.layers.iter().enumerate() {
            let s = model.scale(l);
            dz.push(match layer.bias.as_ref().and_then(|b| b.grad(&grads)) {
                Some(g) => values(g.div_scalar(s), "the probe's error signals")?,
                None => Vec::new(),
            });
        }
        let mut pre = Vec::with_capacity(trace.len());
        let mut post = Vec::with_capacity(trace.len());
        for t in &trace {
            pre.push(values(
                t.pre.clone().inner(),
                "the probe's pre-activations",
            )?);
            post.push(values(t.post.clone().inner(), "the probe's activations")?);
        }
        let output = post.last().cloned().unwrap_or_default();
        Ok(ProbePass {
            probe: probe(output, probe_loss),
            pre,
            post,
            dz,
        })
    }
}

struct ProbePass {
    probe: Probe,
    pre: Vec<Vec<f32>>,
    post: Vec<Vec<f32>>,
    dz: Vec<Vec<f32>>,
}
