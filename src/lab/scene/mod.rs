//! Scenes: the RON schema that says what to train and how to show it.

mod film;
mod lesson;
pub mod limits;
mod link;
mod presets;
mod schedule;

pub use film::{CameraPath, FilmSpec, Focus, Pose, PoseBlend};
pub use lesson::{Highlight, Lesson, LessonEvent, LessonProgress, LessonStep, PausePoint, Signal};
pub use link::{DEFAULT_SCENE, SceneLink, StepsPerSecond};
pub use presets::{LOCAL_DIR, Preset, Presets, save_scene};
pub use schedule::LrSchedule;

use std::path::{Path, PathBuf};

use ron::extensions::Extensions;
use serde::{Deserialize, Serialize};

use crate::lab::data::DataSpec;
use crate::lab::error::{LabError, LabResult};
use crate::lab::model::{Activation, InitScheme, MlpConfig, OutputKind};

/// A whole scene file: data, network, training, view and recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// Short name; run directories are called `<name>_<NNN>`. Defaults to the file name.
    #[serde(default)]
    pub name: String,
    /// A title for people.
    #[serde(default)]
    pub title: String,
    /// What the scene shows or teaches.
    #[serde(default)]
    pub description: String,
    /// Seed of the initial weights and of the batch order.
    #[serde(default)]
    pub seed: u64,
    /// The data set.
    pub data: DataSpec,
    /// The network.
    #[serde(default)]
    pub model: ModelSpec,
    /// The optimisation.
    #[serde(default)]
    pub train: TrainSpec,
    /// How the app shows the run.
    #[serde(default)]
    pub view: ViewSpec,
    /// What the run directory keeps.
    #[serde(default)]
    pub record: RecordSpec,
    /// Measurements beyond the loss: the sharpness and its top eigenvector.
    #[serde(default)]
    pub measure: MeasureSpec,
    /// A lesson: captions, camera moves and highlights shown as training goes.
    #[serde(default, skip_serializing_if = "Lesson::is_empty")]
    pub lesson: Lesson,
}

/// The network's hidden layers and non-linearities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSpec {
    /// Widths of the hidden layers; input and output widths come from the data.
    pub hidden: Vec<usize>,
    /// Hidden non-linearity (of every hidden layer, unless `activations` says otherwise).
    pub activation: Activation,
    /// One non-linearity per hidden layer, input side first, in place of `activation`.
    pub activations: Option<Vec<Activation>>,
    /// The probability that a hidden unit is left out of a training step
    /// (inverted dropout: the units kept are scaled by `1/(1 − p)`).
    /// Evaluation, the probe, sharpness and every view use the whole network.
    pub dropout: f32,
    /// Output non-linearity; by default softmax for classification, linear for regression.
    pub output: Option<OutputKind>,
    /// Initial weights; by default He for relu and gelu, Xavier otherwise.
    pub init: Option<InitScheme>,
    /// Layers have biases.
    pub bias: bool,
    /// How pre-activations are scaled (see [`Parameterization`]).
    pub parameterization: Parameterization,
    /// The hidden activation is applied to `gain · z` (the trainability
    /// fractal uses tanh of √2·z).
    pub gain: f32,
}

impl Default for ModelSpec {
    fn default() -> Self {
        ModelSpec {
            hidden: vec![8],
            activation: Activation::Tanh,
            activations: None,
            dropout: 0.0,
            output: None,
            init: None,
            bias: true,
            parameterization: Parameterization::Standard,
            gain: 1.0,
        }
    }
}

/// How a layer's pre-activation is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Parameterization {
    /// `z = x·W + b`.
    #[default]
    Standard,
    /// Mean-field: each layer's `z = (x·W + b) / √fan_in`, and the output
    /// once more divided by `√width` (its fan-in): with `Normal(std: 1.0)`
    /// weights, the setting of the trainability fractal.
    MeanField,
}

impl ModelSpec {
    /// Checks the network's own settings; a PDE (`pde`) trains the whole
    /// network, without dropout.
    fn validate(&self, pde: bool) -> LabResult<()> {
        if let Some(i) = self.hidden.iter().position(|&w| w == 0) {
            return Err(LabError::setting(
                format!("model.hidden[{i}]"),
                "a layer needs at least one neuron",
            ));
        }
        if let Some(per_layer) = &self.activations
            && per_layer.len() != self.hidden.len()
        {
            return Err(LabError::setting(
                "model.activations",
                format!(
                    "needs one activation per hidden layer: {}, got {}",
                    self.hidden.len(),
                    per_layer.len()
                ),
            ));
        }
        let p = self.dropout;
        if !(p.is_finite() && (0.0..=crate::lab::model::MAX_DROPOUT).contains(&p)) {
            return Err(LabError::setting(
                "model.dropout",
                format!(
                    "must be a probability from 0 to {}, got {p}",
                    crate::lab::model::MAX_DROPOUT
                ),
            ));
        }
        if p > 0.0 && pde {
            return Err(LabError::setting(
                "model.dropout",
                "a PDE's residual is of the whole network: use dropout 0 with PDE data",
            ));
        }
        if !(self.gain.is_finite() && self.gain > 0.0) {
            return Err(LabError::setting(
                "model.gain",
                format!("must be a positive number, got {}", self.gain),
            ));
        }
        Ok(())
    }

    /// Sets the hidden layers: their widths and each one's non-linearity
    /// (missing ones repeat the last). One non-linearity shared by every
    /// layer is written as `activation`. When the non-linearities change,
    /// the default initialisation follows them again.
    pub fn set_layers(&mut self, hidden: Vec<usize>, mut activations: Vec<Activation>) {
        let fill = activations.last().copied().unwrap_or(self.activation);
        activations.resize(hidden.len(), fill);
        if activations != self.hidden_activations() {
            self.init = None;
        }
        match activations.first() {
            Some(&first) if activations.iter().all(|&a| a == first) => {
                self.activation = first;
                self.activations = None;
            }
            Some(_) => self.activations = Some(activations),
            None => self.activations = None,
        }
        self.hidden = hidden;
    }

    /// Each hidden layer's non-linearity, input side first.
    pub fn hidden_activations(&self) -> Vec<Activation> {
        crate::lab::model::hidden_activations(
            self.activation,
            self.activations.as_deref().unwrap_or_default(),
            self.hidden.len(),
        )
    }

    /// The factor each weight layer's pre-activation is multiplied by, for
    /// layers of `sizes` (inputs first): the parameterisation's scale, times
    /// the gain on hidden layers.
    pub fn layer_scales(&self, sizes: &[usize]) -> Vec<f32> {
        let last = sizes.len().saturating_sub(2);
        sizes
            .windows(2)
            .enumerate()
            .map(|(l, w)| {
                let fan_in = w[0].max(1) as f32;
                let param = match self.parameterization {
                    Parameterization::Standard => 1.0,
                    Parameterization::MeanField if l == last => 1.0 / fan_in,
                    Parameterization::MeanField => 1.0 / fan_in.sqrt(),
                };
                if l == last { param } else { param * self.gain }
            })
            .collect()
    }
}

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// Full-batch gradient descent: every step sees the whole training set.
    Gd,
    /// Mini-batch stochastic gradient descent.
    Sgd,
    /// Mini-batch SGD with (heavy-ball) momentum.
    Momentum,
    /// Adam.
    Adam,
}

impl OptimizerKind {
    /// Every optimiser, for menus.
    pub const ALL: [OptimizerKind; 4] = [
        OptimizerKind::Gd,
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Adam,
    ];

    /// Short name for people.
    pub fn label(self) -> &'static str {
        match self {
            OptimizerKind::Gd => "full-batch GD",
            OptimizerKind::Sgd => "SGD",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Adam => "Adam",
        }
    }
}

/// The loss function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LossKind {
    /// Cross-entropy of the softmax output.
    CrossEntropy,
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    L1,
    /// A differential equation's residual plus its boundary term (PINN data only).
    Residual,
}

/// How the network is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSpec {
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Step size η.
    pub learning_rate: f32,
    /// One step size per weight layer, input side first, in place of
    /// `learning_rate` (gradient descent and momentum only).
    pub learning_rates: Option<Vec<f32>>,
    /// Momentum coefficient (the `Momentum` optimiser).
    pub momentum: f32,
    /// Samples per step (ignored by full-batch `Gd`).
    pub batch_size: usize,
    /// The loss; by default cross-entropy for classification, MSE for regression.
    pub loss: Option<LossKind>,
    /// L1 penalty on the weights: + l1 · Σ|w|.
    pub l1: f32,
    /// L2 penalty on the weights: + l2 · Σw².
    pub l2: f32,
    /// Steps to train for.
    pub steps: u64,
    /// Evaluate on the full training and test sets every this many steps.
    pub eval_every: u64,
    /// How the learning rate moves over the run.
    pub schedule: LrSchedule,
    /// Steps over which the rate ramps up linearly from `1/warmup_steps` of
    /// its scheduled value (0: none).
    pub warmup_steps: u64,
}

impl TrainSpec {
    /// Checks the training settings, for a network of `weight_layers` layers.
    fn validate(&self, weight_layers: usize) -> LabResult<()> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(LabError::setting(
                "train.learning_rate",
                format!("must be a positive number, got {}", self.learning_rate),
            ));
        }
        if let Some(rates) = &self.learning_rates {
            if rates.len() != weight_layers {
                return Err(LabError::setting(
                    "train.learning_rates",
                    format!(
                        "needs one rate per weight layer: {weight_layers}, got {}",
                        rates.len()
                    ),
                ));
            }
            if let Some(bad) = rates.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
                return Err(LabError::setting(
                    "train.learning_rates",
                    format!("every rate must be a positive number, got {bad}"),
                ));
            }
            if self.optimizer == OptimizerKind::Adam {
                return Err(LabError::setting(
                    "train.learning_rates",
                    "per-layer rates need Gd, Sgd or Momentum (Adam rescales every step)",
                ));
            }
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(LabError::setting("train.momentum", "must be in [0, 1)"));
        }
        if self.batch_size == 0 {
            return Err(LabError::setting("train.batch_size", "must be at least 1"));
        }
        if self.l1 < 0.0 || self.l2 < 0.0 || !self.l1.is_finite() || !self.l2.is_finite() {
            return Err(LabError::setting(
                "train.l1",
                "penalties must be zero or positive",
            ));
        }
        if self.eval_every == 0 {
            return Err(LabError::setting("train.eval_every", "must be at least 1"));
        }
        self.schedule.validate(self.warmup_steps, self.steps)
    }

    /// The factor of the learning rate(s) at `step` (see [`LrSchedule::factor`]).
    pub fn lr_factor(&self, step: u64) -> f32 {
        self.schedule.factor(step, self.steps, self.warmup_steps)
    }

    /// The loss of a network with `output`: the one set (a resolved scene
    /// sets it: see [`Scene::loss`]), else cross-entropy for a softmax
    /// output and the mean squared error otherwise.
    pub fn loss_for(&self, output: OutputKind) -> LossKind {
        self.loss.unwrap_or(match output {
            OutputKind::Softmax => LossKind::CrossEntropy,
            OutputKind::Linear => LossKind::Mse,
        })
    }

    /// The settings the models of a sweep that train as one batch share:
    /// all but the step sizes, which each model carries itself.
    pub fn without_rates(&self) -> TrainSpec {
        TrainSpec {
            learning_rate: 0.0,
            learning_rates: None,
            ..self.clone()
        }
    }
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            optimizer: OptimizerKind::Adam,
            learning_rate: 0.01,
            learning_rates: None,
            momentum: 0.9,
            batch_size: 32,
            loss: None,
            l1: 0.0,
            l2: 0.0,
            steps: 1000,
            eval_every: 10,
            schedule: LrSchedule::Constant,
            warmup_steps: 0,
        }
    }
}

/// How the app shows the run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewSpec {
    /// Index of the test sample followed through the network.
    pub probe: usize,
    /// Training pace in the app, in steps per second (`None`: as fast as possible).
    pub steps_per_second: Option<f32>,
    /// A camera path for films (and, on request, the app).
    pub camera: Option<CameraPath>,
    /// Pace, length and overlays of a film of this scene.
    pub film: FilmSpec,
}

impl ViewSpec {
    /// Checks the view of a network of `neuron_layers` layers of neurons.
    fn validate(&self, neuron_layers: usize) -> LabResult<()> {
        if let Some(r) = self.steps_per_second
            && !(r.is_finite() && r > 0.0)
        {
            return Err(LabError::setting(
                "view.steps_per_second",
                "must be a positive number",
            ));
        }
        if let Some(path) = &self.camera {
            path.validate(neuron_layers)?;
        }
        self.film.validate()
    }
}

/// Steps between checkpoints unless a scene says otherwise.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

/// What the run directory keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordSpec {
    /// Record frames at all.
    pub frames: bool,
    /// Record a frame every this many steps (1: every step).
    pub frame_every: u64,
    /// A full-precision keyframe every this many recorded frames; the others
    /// are compact deltas against it.
    pub keyframe_every: u32,
    /// Byte budget of the recording: past it, the recorded stride doubles
    /// (and doubles again), so the file never passes twice this size, but
    /// for the exact keyframe of the final state.
    pub max_bytes: u64,
    /// Save a checkpoint (model, optimiser and session state) every this
    /// many steps, besides the one at the end (`None`: at the end only).
    pub checkpoint_every: Option<u64>,
}

impl Default for RecordSpec {
    fn default() -> Self {
        RecordSpec {
            frames: true,
            frame_every: 1,
            keyframe_every: crate::lab::record::DEFAULT_KEYFRAME_EVERY,
            max_bytes: 4 << 30,
            checkpoint_every: Some(DEFAULT_CHECKPOINT_EVERY),
        }
    }
}

impl RecordSpec {
    /// Checks what the run directory keeps.
    fn validate(&self) -> LabResult<()> {
        if self.keyframe_every == 0 || self.max_bytes == 0 {
            return Err(LabError::setting(
                "record.keyframe_every",
                "keyframe_every and max_bytes must be at least 1",
            ));
        }
        if self.checkpoint_every == Some(0) {
            return Err(LabError::setting(
                "record.checkpoint_every",
                "must be at least 1 (or None: a checkpoint at the end only)",
            ));
        }
        if self.frame_every == 0 {
            return Err(LabError::setting(
                "record.frame_every",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// What is measured besides losses and accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeasureSpec {
    /// Measure the sharpness (the top eigenvalue of the training loss's
    /// Hessian) every this many steps, a multiple of `train.eval_every`
    /// (`None`: never).
    pub sharpness_every: Option<u64>,
    /// Measure it on the first this many training samples (`None`: all of them).
    pub sharpness_samples: Option<usize>,
    /// How many of the top eigenvalues to find (the first is the sharpness).
    pub top_k: usize,
}

impl Default for MeasureSpec {
    fn default() -> Self {
        MeasureSpec {
            sharpness_every: None,
            sharpness_samples: None,
            top_k: 1,
        }
    }
}

impl MeasureSpec {
    /// Checks the measurements, made at evaluations of `train`.
    fn validate(&self, train: &TrainSpec) -> LabResult<()> {
        if let Some(every) = self.sharpness_every
            && (every == 0 || !every.is_multiple_of(train.eval_every))
        {
            return Err(LabError::setting(
                "measure.sharpness_every",
                format!(
                    "must be a positive multiple of train.eval_every ({}), got {every}",
                    train.eval_every
                ),
            ));
        }
        if self.sharpness_samples == Some(0) {
            return Err(LabError::setting(
                "measure.sharpness_samples",
                "must be at least 1 (or None for the whole training set)",
            ));
        }
        if !(1..=crate::lab::analysis::MAX_TOP_K).contains(&self.top_k) {
            return Err(LabError::setting(
                "measure.top_k",
                format!(
                    "must be between 1 and {}, got {}",
                    crate::lab::analysis::MAX_TOP_K,
                    self.top_k
                ),
            ));
        }
        Ok(())
    }

    /// True when the sharpness is measured at `step`.
    pub fn sharpness_due(&self, step: u64) -> bool {
        self.sharpness_every
            .is_some_and(|every| step.is_multiple_of(every))
    }
}

/// The RON extensions scenes are read and written with: `Some(x)` may be
/// written `x`, and `Xor((samples: 10))` may be written `Xor(samples: 10)`.
pub fn ron_extensions() -> Extensions {
    Extensions::IMPLICIT_SOME | Extensions::UNWRAP_VARIANT_NEWTYPES
}

impl Scene {
    /// Reads and validates a scene file.
    pub fn load(path: impl AsRef<Path>) -> LabResult<Scene> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|e| LabError::io(path, "cannot read", e))?;
        Scene::parse(&text, path)
    }

    /// Parses and validates scene text; `path` names it in errors and gives the default name.
    pub fn parse(text: &str, path: &Path) -> LabResult<Scene> {
        let options = ron::Options::default().with_default_extension(ron_extensions());
        let mut de = ron::Deserializer::from_str_with_options(text, &options).map_err(|e| {
            LabError::Scene {
                path: path.to_path_buf(),
                line: e.span.start.line,
                column: e.span.start.col,
                field: "(file)".into(),
                message: e.code.to_string(),
            }
        })?;
        let mut scene: Scene = match serde_path_to_error::deserialize(&mut de) {
            Ok(scene) => scene,
            Err(err) => {
                let field = field_name(&err.path().to_string());
                let spanned = de.span_error(err.into_inner());
                return Err(LabError::Scene {
                    path: path.to_path_buf(),
                    line: spanned.span.start.line,
                    column: spanned.span.start.col,
                    field,
                    message: spanned.code.to_string(),
                });
            }
        };
        if let Err(e) = de.end() {
            let spanned = de.span_error(e);
            return Err(LabError::Scene {
                path: path.to_path_buf(),
                line: spanned.span.start.line,
                column: spanned.span.start.col,
                field: "(file)".into(),
                message: format!("{} after the scene", spanned.code),
            });
        }
        if scene.name.is_empty() {
            scene.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scene".into());
        }
        scene.validate().map_err(|e| locate(e, text, path))?;
        Ok(scene)
    }

    /// Checks every setting, naming the offending field: each part checks
    /// its own fields, then what one part asks of another.
    pub fn validate(&self) -> LabResult<()> {
        if !self
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(LabError::setting(
                "name",
                format!(
                    "`{}` may hold only letters, digits, '-' and '_' (it names run directories)",
                    self.name
                ),
            ));
        }
        self.data.validate()?;
        self.model.validate(self.data.is_pde())?;
        self.check_size()?;
        self.train.validate(self.model.hidden.len() + 1)?;
        // Inputs, the hidden layers, outputs.
        let neuron_layers = self.model.hidden.len() + 2;
        self.view.validate(neuron_layers)?;
        self.lesson.validate(neuron_layers)?;
        self.record.validate()?;
        self.measure.validate(&self.train)?;
        self.check_lesson_triggers()?;
        self.check_loss_and_output()
    }

    /// A lesson waiting for a sharpness needs it measured, against a
    /// stability threshold.
    fn check_lesson_triggers(&self) -> LabResult<()> {
        for (i, step) in self.lesson.steps.iter().enumerate() {
            if let lesson::Trigger::SharpnessAbove(_) = step.trigger {
                let why = if self.measure.sharpness_every.is_none() {
                    Some("needs the sharpness measured: set measure.sharpness_every")
                } else if self.train.optimizer == OptimizerKind::Adam {
                    Some(
                        "needs a stability threshold, which Adam does not have: use Gd, Sgd or Momentum",
                    )
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(LabError::setting(
                        format!("lesson.steps[{i}].trigger"),
                        format!("SharpnessAbove {why}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The loss, the output and the data must go together.
    fn check_loss_and_output(&self) -> LabResult<()> {
        let loss = self.loss();
        let output = self.output();
        if loss == LossKind::CrossEntropy && output != OutputKind::Softmax {
            return Err(LabError::setting(
                "train.loss",
                "CrossEntropy needs a Softmax output (model.output)",
            ));
        }
        if self.data.is_regression() && loss == LossKind::CrossEntropy {
            return Err(LabError::setting(
                "train.loss",
                "a regression data set needs Mse or L1, not CrossEntropy",
            ));
        }
        if self.data.is_pde() != (loss == LossKind::Residual) {
            return Err(LabError::setting(
                "train.loss",
                "Residual is the loss of PDE data (Pde1d, Pde2d), and PDE data trains on Residual only",
            ));
        }
        if self.data.is_pde() && output != OutputKind::Linear {
            return Err(LabError::setting(
                "model.output",
                "a PDE's solution is a value: the output must be Linear",
            ));
        }
        Ok(())
    }

    /// Checks, before anything is allocated, that the network, its data and
    /// one batch's activations fit the [`limits`](crate::lab::scene::limits).
    fn check_size(&self) -> LabResult<()> {
        use crate::lab::scene::limits;
        limits::check(
            "model.hidden",
            "hidden layers",
            self.model.hidden.len() as u128,
            limits::MAX_HIDDEN_LAYERS as u128,
        )?;
        let mut size = self.data.size();
        let mut sizes = vec![size.inputs];
        sizes.extend(self.model.hidden.iter().map(|&w| w as u128));
        sizes.push(size.outputs);
        if let DataSpec::RandomRegression(r) = &self.data
            && r.samples == crate::lab::data::SampleCount::Auto
        {
            // As many samples as parameters: the data grows with the network.
            size.train = sizes
                .windows(2)
                .map(|w| {
                    w[0].saturating_mul(w[1])
                        .saturating_add(if self.model.bias { w[1] } else { 0 })
                })
                .fold(0u128, u128::saturating_add);
            size.check().map_err(|e| match e {
                LabError::Setting { field, message } => LabError::setting(
                    field,
                    format!("Auto (as many samples as the network has parameters): {message}"),
                ),
                other => other,
            })?;
        }
        let batch = match self.train.optimizer {
            OptimizerKind::Gd => size.train,
            _ => size.train.min(self.train.batch_size as u128),
        };
        limits::check_network(&sizes, self.model.bias, batch)
    }

    /// The loss in use, defaults applied.
    pub fn loss(&self) -> LossKind {
        self.train.loss.unwrap_or(if self.data.is_pde() {
            LossKind::Residual
        } else if self.data.is_regression() {
            LossKind::Mse
        } else {
            LossKind::CrossEntropy
        })
    }

    /// The output non-linearity in use, defaults applied.
    pub fn output(&self) -> OutputKind {
        self.model.output.unwrap_or(if self.data.is_regression() {
            OutputKind::Linear
        } else {
            OutputKind::Softmax
        })
    }

    /// The initialisation in use, defaults applied: He when the first
    /// hidden layer is relu or gelu, Xavier otherwise.
    pub fn init(&self) -> InitScheme {
        let first = self
            .model
            .hidden_activations()
            .first()
            .copied()
            .unwrap_or(self.model.activation);
        self.model.init.unwrap_or(match first {
            Activation::Relu | Activation::Gelu => InitScheme::He,
            _ => InitScheme::Xavier,
        })
    }

    /// The scene with every default written out, so that it repeats the run exactly.
    pub fn resolved(&self) -> Scene {
        let mut s = self.clone();
        if let DataSpec::RandomRegression(r) = &mut s.data
            && r.samples == crate::lab::data::SampleCount::Auto
        {
            let n = self.parameter_count(r.inputs, r.outputs);
            r.samples = crate::lab::data::SampleCount::Count(n);
        }
        s.train.loss = Some(self.loss());
        s.model.output = Some(self.output());
        s.model.init = Some(self.init());
        s
    }

    /// The network of this scene on a data set with `inputs` and `outputs`:
    /// every default resolved, seeded with the scene's seed.
    pub fn mlp_config(&self, inputs: usize, outputs: usize) -> MlpConfig {
        let mut sizes = vec![inputs];
        sizes.extend(&self.model.hidden);
        sizes.push(outputs);
        let scales = self.model.layer_scales(&sizes);
        MlpConfig::new(sizes, self.model.hidden_activations())
            .with_output(self.output())
            .with_init(self.init())
            .with_seed(self.seed)
            .with_bias(self.model.bias)
            .with_scales(scales)
    }

    /// The number of parameters of the network on `inputs` and `outputs`.
    pub fn parameter_count(&self, inputs: usize, outputs: usize) -> usize {
        self.mlp_config(inputs, outputs).parameter_count()
    }

    /// The step size of each weight layer.
    pub fn learning_rates(&self) -> Vec<f32> {
        match &self.train.learning_rates {
            Some(rates) => rates.clone(),
            None => vec![self.train.learning_rate; self.model.hidden.len() + 1],
        }
    }

    /// Loads the scene's data, resolved (a `RandomRegression` of `Auto`
    /// samples gets as many samples as the network has parameters).
    pub fn load_data(&self) -> LabResult<crate::lab::data::Dataset> {
        let data = self.resolved().data.load()?;
        if matches!(self.data, DataSpec::Csv(_) | DataSpec::Arrays(_)) {
            // A file's shape is known only now: check the network on it.
            let mut sizes = vec![data.inputs as u128];
            sizes.extend(self.model.hidden.iter().map(|&w| w as u128));
            sizes.push(data.outputs() as u128);
            let train = data.train.len() as u128;
            let batch = match self.train.optimizer {
                OptimizerKind::Gd => train,
                _ => train.min(self.train.batch_size as u128),
            };
            crate::lab::scene::limits::check_network(&sizes, self.model.bias, batch)?;
        }
        Ok(data)
    }

    /// The scene as RON text, in the form [`Scene::parse`] reads.
    pub fn to_ron(&self) -> LabResult<String> {
        let pretty = ron::ser::PrettyConfig::new()
            .extensions(ron_extensions())
            .struct_names(true);
        ron::ser::to_string_pretty(self, pretty).map_err(|e| {
            LabError::setting("scene", format!("cannot write `{}` as RON: {e}", self.name))
        })
    }

    /// The title people see: the title, or the name when there is none.
    pub fn display_title(&self) -> &str {
        if self.title.is_empty() {
            &self.name
        } else {
            &self.title
        }
    }

    /// Takes `other`'s presentation: what changes how a run is shown and
    /// taught, not how it trains. This is the one list of those fields; every
    /// other field of a scene shapes training (see [`Scene::changes_training`]).
    pub fn take_presentation(&mut self, other: &Scene) {
        self.title.clone_from(&other.title);
        self.description.clone_from(&other.description);
        self.view.clone_from(&other.view);
        self.lesson.clone_from(&other.lesson);
    }

    /// True when going from `self` to `other` changes how the network trains:
    /// they differ in more than their presentation.
    pub fn changes_training(&self, other: &Scene) -> bool {
        let mut presented = self.clone();
        presented.take_presentation(other);
        presented != *other
    }
}

/// The dotted field path serde_path_to_error reports, made readable.
fn field_name(path: &str) -> String {
    if path.is_empty() || path == "." {
        "(scene)".into()
    } else {
        path.to_string()
    }
}

/// Turns a validation error into a scene error pointing at the field's text.
fn locate(err: LabError, text: &str, path: &Path) -> LabError {
    let LabError::Setting { field, message } = err else {
        return err;
    };
    let (line, column) = find_field(text, &field).unwrap_or((1, 1));
    LabError::Scene {
        path: PathBuf::from(path),
        line,
        column,
        field,
        message,
    }
}

/// Finds `a.b.c` in the text by looking for `a:`, then `b:` after it, and so on.
fn find_field(text: &str, field: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    let mut found = None;
    for part in field.split('.') {
        let key = part.split('[').next().unwrap_or(part);
        let needle = format!("{key}:");
        let at = text[from..].find(&needle).map(|i| i + from)?;
        found = Some(at);
        from = at + needle.len();
    }
    let at = found?;
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    Some((line, column))
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    const XOR: &str = r#"
Scene(
    name: "xor",
    seed: 3,
    data: Xor(samples: 200, noise: 0.1),
    model: (hidden: [4], activation: Tanh),
    train: (optimizer: Sgd, learning_rate: 0.1, steps: 50),
)
"#;

    fn parse(text: &str) -> LabResult<Scene> {
        Scene::parse(text, Path::new("scenes/test.ron"))
    }

    #[test]
    fn parses_with_defaults() {
        let s = parse(XOR).unwrap();
        assert_eq!(s.seed, 3);
        assert_eq!(s.model.hidden, vec![4]);
        assert_eq!(s.train.batch_size, TrainSpec::default().batch_size);
        assert_eq!(s.loss(), LossKind::CrossEntropy);
        assert_eq!(s.init(), InitScheme::Xavier);
    }

    #[test]
    fn presentation_changes_do_not_change_training() {
        let a = parse(XOR).unwrap();
        let mut b = a.clone();
        b.title = "Another title".into();
        b.view.probe = 7;
        assert!(!a.changes_training(&b));
        b.seed += 1;
        assert!(a.changes_training(&b));
        let mut c = a.clone();
        c.record.frame_every = 4;
        assert!(
            a.changes_training(&c),
            "fields outside the presentation shape training"
        );
        assert_eq!(c.display_title(), "xor");
    }

    #[test]
    fn resolved_scene_round_trips() {
        let s = parse(XOR).unwrap().resolved();
        let again = parse(&s.to_ron().unwrap()).unwrap();
        assert_eq!(s, again);
        assert_eq!(again.model.output, Some(OutputKind::Softmax));
    }

    #[test]
    fn name_defaults_to_the_file_stem() {
        let s = Scene::parse(
            "Scene(data: Xor(samples: 100))",
            Path::new("a/b/my-xor.ron"),
        )
        .unwrap();
        assert_eq!(s.name, "my-xor");
    }

    #[test]
    fn wrong_type_names_file_line_column_and_field() {
        let text = XOR.replace("learning_rate: 0.1", "learning_rate: \"fast\"");
        let err = parse(&text).unwrap_err();
        let LabError::Scene {
            path,
            line,
            column,
            field,
            message,
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!(path, Path::new("scenes/test.ron"));
        assert_eq!(*line, 7);
        assert!(*column > 1);
        assert_eq!(field, "train.learning_rate");
        assert!(
            message.contains("float") || message.contains("f32"),
            "{message}"
        );
        assert!(err.to_string().starts_with("scenes/test.ron:7:"), "{err}");
    }

    #[test]
    fn unknown_data_set_lists_the_valid_names() {
        let err = parse(&XOR.replace("Xor(", "Xorr("))
            .unwrap_err()
            .to_string();
        assert!(err.contains("Xorr"), "{err}");
        for name in DataSpec::NAMES {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
    }

    #[test]
    fn unknown_activation_lists_the_valid_names() {
        let err = parse(&XOR.replace("Tanh", "Swish"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.activation"), "{err}");
        for a in ["Relu", "Tanh", "Sigmoid", "Gelu", "Linear"] {
            assert!(err.contains(a), "{a} missing from: {err}");
        }
    }

    #[test]
    fn per_layer_activations_and_dropout_are_checked_where_they_are_written() {
        let text = XOR.replace(
            "activation: Tanh",
            "activations: [Relu, Tanh, Gelu], dropout: 0.2",
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("model.activations") && err.contains("one activation per hidden layer"),
            "{err}"
        );
        let line = text
            .lines()
            .position(|l| l.contains("activations:"))
            .unwrap()
            + 1;
        assert!(
            err.starts_with(&format!("scenes/test.ron:{line}:")),
            "{err}"
        );
        for bad in ["1.0", "-0.1", "NaN", "inf"] {
            let text = XOR.replace("activation: Tanh", &format!("dropout: {bad}"));
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.contains("model.dropout") && err.contains("probability"),
                "{bad}: {err}"
            );
        }
        let ok =
            parse(&XOR.replace("activation: Tanh", "activations: [Relu], dropout: 0.25")).unwrap();
        assert_eq!(ok.model.hidden_activations(), vec![Activation::Relu]);
        assert_eq!(ok.model.dropout, 0.25);
        // Written back, the scene reads as itself.
        let back = Scene::parse(&ok.to_ron().unwrap(), Path::new("back.ron")).unwrap();
        assert_eq!(back.model, ok.model);
    }

    #[test]
    fn unknown_field_is_reported() {
        let err = parse(&XOR.replace("steps: 50", "stepz: 50"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("stepz") && err.contains("steps"), "{err}");
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = parse(&XOR.replace("seed: 3,", "seed: 3,,")).unwrap_err();
        let LabError::Scene { line, .. } = err else {
            panic!()
        };
        assert_eq!(line, 4);
    }

    #[test]
    fn absurd_sizes_are_refused_before_anything_is_allocated() {
        let cases = [
            (
                XOR.replace("hidden: [4]", "hidden: [4294967296]"),
                "model.hidden[0]",
                "4,294,967,296 neurons in one layer is over the limit of 1,048,576",
            ),
            (
                XOR.replace("hidden: [4]", "hidden: [60000, 60000]"),
                "model.hidden",
                "parameters would need 3,600,360,002 numbers (13.4 GiB)",
            ),
            (
                XOR.replace("samples: 200", "samples: 18446744073709551615"),
                "data.samples",
                "18,446,744,073,709,551,615 samples in the training set is over the limit of 16,777,216",
            ),
            (
                "Scene(data: Function1d(test_samples: 18446744073709551615))".into(),
                "data.test_samples",
                "over the limit of 16,777,216",
            ),
            (
                "Scene(data: RandomRegression(inputs: 4000, outputs: 1), model: (hidden: [4000, 4000]))"
                    .into(),
                "data.samples",
                "Auto (as many samples as the network has parameters): 32,012,001 samples",
            ),
            (
                XOR.replace("steps: 50", "steps: 50, optimizer: Gd")
                    .replace("optimizer: Sgd, ", "")
                    .replace("samples: 200", "samples: 16000000")
                    .replace("hidden: [4]", "hidden: [100]"),
                "train.batch_size",
                "one batch's activations would need",
            ),
            (XOR.replace("noise: 0.1", "noise: NaN"), "data.noise", "between 0 and 1"),
            (XOR.replace("samples: 200", "samples: 0"), "data.samples", "at least"),
            (XOR.replace("hidden: [4]", "hidden: [0]"), "model.hidden[0]", "at least one"),
        ];
        for (text, field, message) in cases {
            let err = parse(&text).unwrap_err();
            let shown = err.to_string();
            let LabError::Scene { field: f, .. } = &err else {
                panic!("{shown}")
            };
            assert_eq!(f, field, "{shown}");
            assert!(shown.contains(message), "`{message}` missing from: {shown}");
        }
    }

    #[test]
    fn invalid_values_point_at_the_field() {
        let err = parse(&XOR.replace("learning_rate: 0.1", "learning_rate: -1.0")).unwrap_err();
        let LabError::Scene { line, field, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(field, "train.learning_rate");
        assert_eq!(*line, 7);
        let err = parse(&XOR.replace("hidden: [4]", "hidden: [4, 0]")).unwrap_err();
        assert!(err.to_string().contains("model.hidden[1]"), "{err}");
    }
}
