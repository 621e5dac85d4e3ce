//! A sweep's plan: groups of models that train as one computation (one data
//! set, one architecture, one training setting), cut into chunks, and the training of a chunk.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::kernel::{self, ModelSetup};
use super::spec::Sweep;
use crate::lab::data::Dataset;
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::{Metrics, RunStatus};
use crate::lab::model::MlpConfig;
use crate::lab::runner::Session;
use crate::lab::scene::TrainSpec;
use crate::lab::{CpuBackend, Device, Scene};

/// Which part of a sweep one process runs: chunk `c` belongs to shard `c mod count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// How many shards there are.
    pub count: usize,
}

impl Shard {
    /// Reads `I/N`, such as `0/4` (I from 0 to N − 1).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not I/N, such as 0/4"))?;
        let num = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{v}` in `{text}` is not a number"))
        };
        let (index, count) = (num(i)?, num(n)?);
        if count == 0 || index >= count {
            return Err(format!(
                "`{text}`: the shard must be 0 to N − 1 of N ≥ 1 shards"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether chunk `chunk` is this shard's.
    pub fn owns(&self, chunk: usize) -> bool {
        chunk % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Models that train together.
#[derive(Debug, Clone)]
pub struct GroupPlan {
    /// The data set, as resolved scene text (the key of the group).
    pub data_key: String,
    /// The networks' architecture (seed and initialisation aside: each
    /// model's initial parameters are its own).
    pub network: MlpConfig,
    /// How they train (the step sizes aside: each model carries its own).
    pub training: TrainSpec,
    /// Why these models train one by one with the single-model trainer
    /// instead of in the batched kernel, if they do.
    pub alone: Option<&'static str>,
    /// The models, by index, ascending.
    pub models: Vec<usize>,
}

/// A run of models of one group: the unit of progress, resuming and sharding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPlan {
    /// Its group.
    pub group: usize,
    /// Its models: `groups[group].models[first..first + len]`.
    pub first: usize,
    /// How many.
    pub len: usize,
}

/// A whole sweep's plan, with each group's data loaded.
pub struct Plan {
    /// The groups, in order of their first model.
    pub groups: Vec<GroupPlan>,
    /// The chunks, group by group.
    pub chunks: Vec<ChunkPlan>,
    /// Each group's data set.
    pub data: Vec<Arc<Dataset>>,
}

/// What one model's training gave, as a sweep keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    /// The model's index in the sweep.
    pub model: usize,
    /// Its training loss at the kept steps.
    pub curve: Vec<(u64, f32)>,
    /// The step it diverged at.
    pub diverged_at: Option<u64>,
    /// Its final evaluation.
    pub metrics: Metrics,
}

impl ModelRow {
    /// Whether the model trained to a lower loss without diverging.
    pub fn converged(&self) -> bool {
        self.diverged_at.is_none() && self.metrics.convergence_score.is_some_and(|s| s > 0.0)
    }

    /// Updates the model went through (up to its divergence).
    pub fn steps_trained(&self, steps: u64) -> u64 {
        self.diverged_at.map_or(steps, |at| (at + 1).min(steps))
    }
}

impl Plan {
    /// Groups every model of `sweep` and cuts the groups into chunks.
    pub fn new(sweep: &Sweep) -> LabResult<Plan> {
        let mut datasets: Vec<(String, Arc<Dataset>)> = Vec::new();
        let mut groups: Vec<GroupPlan> = Vec::new();
        let mut data = Vec::new();
        for k in 0..sweep.count {
            let scene = sweep.scene(k)?.resolved();
            let key = serde_json::to_string(&scene.data).map_err(|e| {
                LabError::setting("data", format!("cannot write the data spec: {e}"))
            })?;
            let set = match datasets.iter().find(|(d, _)| *d == key) {
                Some((_, set)) => set.clone(),
                None => {
                    let set = Arc::new(scene.load_data()?);
                    datasets.push((key.clone(), set.clone()));
                    set
                }
            };
            let network = scene.mlp_config(set.inputs, set.outputs()).architecture();
            let training = scene.train.without_rates();
            let alone = kernel::unsupported(&scene);
            let found = groups.iter().position(|g| {
                g.data_key == key
                    && g.network == network
                    && g.training == training
                    && g.alone == alone
            });
            match found {
                Some(g) => groups[g].models.push(k),
                None => {
                    groups.push(GroupPlan {
                        data_key: key,
                        network,
                        training,
                        alone,
                        models: vec![k],
                    });
                    data.push(set);
                }
            }
        }
        let mut chunks = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let size = chunk_size(sweep.spec.chunk, group, data[g].train.len());
            let mut first = 0;
            while first < group.models.len() {
                let len = size.min(group.models.len() - first);
                chunks.push(ChunkPlan {
                    group: g,
                    first,
                    len,
                });
                first += len;
            }
        }
        Ok(Plan {
            groups,
            chunks,
            data,
        })
    }

    /// The models of chunk `c`.
    pub fn chunk_models(&self, c: usize) -> &[usize] {
        match self.chunks.get(c) {
            Some(ch) => &self.groups[ch.group].models[ch.first..ch.first + ch.len],
            None => &[],
        }
    }

    /// Trains chunk `c` of `sweep` on `device`, `threads` at a time; `done`
    /// counts finished models. Rows are in model order.
    pub fn train_chunk(
        &self,
        sweep: &Sweep,
        c: usize,
        device: Device,
        threads: usize,
        done: &AtomicU64,
    ) -> LabResult<Vec<ModelRow>> {
        let chunk = self
            .chunks
            .get(c)
            .ok_or_else(|| LabError::setting("chunk", format!("the sweep has no chunk {c}")))?;
        let group = &self.groups[chunk.group];
        let data = &self.data[chunk.group];
        let models = self.chunk_models(c);
        if group.alone.is_some() {
            let mut rows = Vec::with_capacity(models.len());
            for &k in models {
                rows.push(train_alone(&sweep.scene(k)?, data.clone(), k)?);
                done.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(rows);
        }
        let setups = models
            .iter()
            .map(|&k| Ok(ModelSetup::of(&sweep.scene(k)?.resolved(), data)))
            .collect::<LabResult<Vec<_>>>()?;
        let outcomes = match device {
            Device::Cpu => kernel::train_models(
                &group.network,
                &group.training,
                data,
                &setups,
                threads,
                done,
            ),
            #[cfg(feature = "gpu")]
            Device::Wgpu => super::tensor::train_models::<crate::lab::GpuBackend>(
                &Default::default(),
                &group.network,
                &group.training,
                data,
                &setups,
                done,
            )?,
            #[cfg(not(feature = "gpu"))]
            Device::Wgpu => {
                return Err(LabError::setting(
                    "device",
                    "this nnm was built without the `gpu` feature: build it with `--features gpu`",
                ));
            }
        };
        Ok(models
            .iter()
            .zip(outcomes)
            .map(|(&model, o)| ModelRow {
                model,
                curve: o.curve,
                diverged_at: o.diverged_at,
                metrics: o.metrics,
            })
            .collect())
    }
}

/// Models per chunk: as given, or about 10¹¹ multiply-adds' worth of training
/// (a few seconds on two cores), 16 to 4096, a multiple of 16 (whole tiles).
fn chunk_size(given: Option<usize>, group: &GroupPlan, train_samples: usize) -> usize {
    given.unwrap_or_else(|| {
        let work = group.training.steps.max(1) as f64
            * group.network.parameter_count().max(1) as f64
            * train_samples.max(1) as f64;
        ((1e11 / work) as usize).clamp(16, 4096) / 16 * 16
    })
}

/// Trains model `model` (scene `scene`) alone with the single-model trainer,
/// as `nnm train` would: what the batched kernel must reproduce.
pub(super) fn train_alone(scene: &Scene, data: Arc<Dataset>, model: usize) -> LabResult<ModelRow> {
    let mut session = Session::<CpuBackend>::with_data(scene, data, &Default::default(), None)?;
    let mut curve = Vec::new();
    let mut diverged_at = None;
    for _ in 0..scene.train.steps {
        let a = session.advance(false)?;
        if let Some(e) = a.evaluation {
            curve.push((e.step, e.train_loss.unwrap_or(f32::NAN)));
        }
        if let Some((at, _)) = a.diverged {
            diverged_at = Some(at);
            break;
        }
    }
    let metrics = match diverged_at {
        Some(at) => {
            let losses: Vec<f32> = curve.iter().map(|(_, l)| *l).collect();
            Metrics {
                status: RunStatus::Diverged,
                convergence_score: Some(crate::lab::frame::convergence_score(
                    &losses,
                    Some(at),
                    scene.train.steps,
                )),
                ..Metrics::at(at)
            }
        }
        None => {
            let last = session.finish()?;
            if curve.last().is_none_or(|(at, _)| *at != last.step) {
                curve.push((last.step, last.train_loss.unwrap_or(f32::NAN)));
            }
            if last.is_diverged() {
                diverged_at = Some(last.step);
            }
            last
        }
    };
    Ok(ModelRow {
        model,
        curve,
        diverged_at,
        metrics: Metrics {
            batch_loss: None,
            grad_norm: None,
            learning_rate: None,
            batch_size: None,
            ..metrics
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_chunks_and_parse_strictly() {
        let s = Shard::parse("1/4").unwrap();
        assert_eq!((s.index, s.count), (1, 4));
        assert_eq!(
            (0..12).filter(|&c| s.owns(c)).collect::<Vec<_>>(),
            vec![1, 5, 9]
        );
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("1").unwrap_err().contains("I/N"));
        assert!(Shard::parse("a/2").unwrap_err().contains("`a`"));
        assert!(Shard::parse("0/0").is_err());
    }
}
