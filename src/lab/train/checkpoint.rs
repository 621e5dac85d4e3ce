//! Checkpoints: a trainer's model and optimiser in burn's records, and the rest of its state.

use std::path::Path;
use std::sync::Arc;

use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::lab::data::Dataset;
use crate::lab::error::{LabError, LabResult};
use crate::lab::model::MlpRecord;
use crate::lab::scene::Scene;
use crate::lab::stream::LayerTensors;

use super::Trainer;
use super::batch::BatchSampler;
use super::optim::{Optim, OptimRecord};

/// burn's recorder for checkpoints: named MessagePack, every `f32` exact.
type CheckpointRecorder = burn::record::NamedMpkFileRecorder<burn::record::FullPrecisionSettings>;

/// The model's file in a checkpoint (burn adds `.mpk`).
pub const MODEL_FILE: &str = "model";
/// The optimiser's file in a checkpoint (burn adds `.mpk`).
const OPTIMIZER_FILE: &str = "optimizer";

/// What a checkpoint keeps of a trainer besides its tensors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainerState {
    /// Updates applied.
    pub step: u64,
    /// The loss blew up.
    pub diverged: bool,
    /// The batch sampler's shuffles so far.
    pub shuffles: u64,
    /// Its position in the current order.
    pub cursor: usize,
    /// The settings in force (with any change made since the start).
    pub scene: Scene,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// Writes the model and optimiser state into `dir` (burn's named
    /// MessagePack records, `model.mpk` and `optimizer.mpk`) and returns the rest.
    pub fn save_checkpoint(&self, dir: &Path) -> LabResult<TrainerState> {
        use burn::module::Module;
        use burn::record::Recorder;
        let recorder = CheckpointRecorder::new();
        let fail = |file: &str, e: burn::record::RecorderError| {
            LabError::run(
                dir.join(format!("{file}.mpk")),
                format!("cannot write: {e}"),
            )
        };
        Recorder::<B::InnerBackend>::record(
            &recorder,
            self.model.clone().into_record(),
            dir.join(MODEL_FILE),
        )
        .map_err(|e| fail(MODEL_FILE, e))?;
        Recorder::<B::InnerBackend>::record(
            &recorder,
            self.optim.to_record(),
            dir.join(OPTIMIZER_FILE),
        )
        .map_err(|e| fail(OPTIMIZER_FILE, e))?;
        Ok(TrainerState {
            step: self.step,
            diverged: self.diverged,
            shuffles: self.sampler.shuffles(),
            cursor: self.sampler.cursor(),
            scene: self.scene.clone(),
        })
    }

    /// The trainer a checkpoint in `dir` saved, with `state` (its scene's
    /// data already loaded as `data`): it goes on exactly as the saved one would.
    pub fn from_checkpoint(
        dir: &Path,
        state: &TrainerState,
        data: Arc<Dataset>,
        device: &B::Device,
    ) -> LabResult<Self> {
        use burn::module::Module;
        use burn::record::Recorder;
        let mut t = Self::with_data(&state.scene, data, device)?;
        let recorder = CheckpointRecorder::new();
        let fail = |file: &str, e: burn::record::RecorderError| {
            LabError::run(dir.join(format!("{file}.mpk")), format!("cannot read: {e}"))
        };
        let model = Recorder::<B::InnerBackend>::load(&recorder, dir.join(MODEL_FILE), device)
            .map_err(|e| fail(MODEL_FILE, e))?;
        let sizes = t.model.sizes();
        t.model = t.model.load_record(model);
        if t.model.sizes() != sizes {
            return Err(LabError::run(
                dir.join("model.mpk"),
                format!(
                    "holds a network of {:?}, the scene's is {sizes:?}",
                    t.model.sizes()
                ),
            ));
        }
        let optim: OptimRecord<B::InnerBackend> =
            Recorder::<B::InnerBackend>::load(&recorder, dir.join(OPTIMIZER_FILE), device)
                .map_err(|e| fail(OPTIMIZER_FILE, e))?;
        let train = &t.scene.train;
        t.optim = Optim::from_record(train.optimizer, train.momentum, optim);
        t.sampler = BatchSampler::restore(
            t.data.train.len(),
            t.scene.seed,
            state.shuffles,
            state.cursor,
        );
        t.step = state.step;
        t.diverged = state.diverged;
        Ok(t)
    }
}

/// The layers of a record of this project's network, `path` (`model.mpk`:
/// burn's named MessagePack at full precision, as checkpoints write it and
/// as `Module::save_file` with `NamedMpkFileRecorder<FullPrecisionSettings>`
/// writes an `Mlp`), in the stream's layout; layers without biases get zeros.
pub fn read_model_record<B: Backend>(
    path: &Path,
    device: &B::Device,
) -> LabResult<Vec<LayerTensors>> {
    use burn::record::Recorder;
    let record: MlpRecord<B> =
        Recorder::<B>::load(&CheckpointRecorder::new(), path.to_path_buf(), device).map_err(
            |e| {
                LabError::run(
                    path,
                    format!(
                        "cannot read as a record of this project's network (burn's named MessagePack at full precision, an `Mlp`): {e}"
                    ),
                )
            },
        )?;
    let values = |data: burn::tensor::TensorData, name: &str| {
        data.convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| LabError::run(path, format!("tensor `{name}`: {e:?}")))
    };
    let mut layers: Vec<LayerTensors> = Vec::with_capacity(record.layers.len());
    for (i, layer) in record.layers.into_iter().enumerate() {
        let name = format!("layers.{i}.weight");
        let [inputs, outputs] = layer.weight.val().dims();
        if let Some(before) = layers.last()
            && before.outputs != inputs
        {
            return Err(LabError::run(
                path,
                format!(
                    "the shapes do not chain: `{}` is [{}, {}] but `{name}` is [{inputs}, {outputs}]",
                    before.name, before.inputs, before.outputs
                ),
            ));
        }
        let weights = values(layer.weight.val().into_data(), &name)?;
        let biases = match layer.bias {
            Some(b) => values(b.val().into_data(), &format!("layers.{i}.bias"))?,
            None => vec![0.0; outputs],
        };
        layers.push(LayerTensors {
            inputs,
            outputs,
            weights,
            biases,
            weight_grads: None,
            bias_grads: None,
            name,
        });
    }
    if layers.is_empty() {
        return Err(LabError::run(path, "the record holds no layers"));
    }
    Ok(layers)
}
