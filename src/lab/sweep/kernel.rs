//! The batched trainer of sweeps on the CPU: many networks of one shape,
//! trained on one data set as one computation over a model axis.
//!
//! Models travel in tiles of `L` (16 with AVX-512, else 8): the model axis is
//! the innermost, vector axis of every array. A tile's weights are
//! `[in][out][L]` per layer (a tile of `[M, in, out]`), its activations
//! `[samples][width][L]`, and its learning rates `[layers][L]`, so each layer
//! is a batched matrix product whose every multiply-add is one vector
//! instruction over `L` models, and per-model hyperparameters, seeds and
//! batch orders ride along as lanes. The products are register-blocked
//! (2 samples × 4 neurons of accumulators) so the loop keeps both FMA units
//! busy. Models never mix: lane `k` of every array belongs to model `k` only,
//! so a model's numbers do not depend on its tile mates, its tile's size or
//! the thread that ran it; shards, chunks and resumed runs reproduce a whole
//! run exactly on the same kind of CPU (AVX-512 and AVX2 give identical
//! bits; the portable path, without FMA, may differ in the last places).
//!
//! A model whose loss turns NaN or infinite is marked at that step and its
//! lane is dropped from every later decision; a tile whose models have all
//! diverged stops early.
//!
//! What each model computes is what `Trainer` computes for it alone (the
//! same initial weights, batch order, loss, penalties and optimiser
//! arithmetic, including burn's Adam and momentum), up to the order of
//! floating-point sums and the few-ulp elementary functions of
//! [`super::fastmath`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::fastmath;
use crate::lab::data::{Dataset, Targets};
use crate::lab::frame::{Metrics, RunStatus, convergence_score};
use crate::lab::model::{Activation, MlpConfig, OutputKind};
use crate::lab::scene::{LossKind, OptimizerKind, Scene, TrainSpec};
use crate::lab::train::{AdamStep, BatchSampler};

/// Why this kernel cannot train a scene (it then trains model by model).
pub fn unsupported(scene: &Scene) -> Option<&'static str> {
    if scene.loss() == LossKind::Residual {
        Some("a PINN's residual loss needs input derivatives")
    } else if scene.measure.sharpness_every.is_some() {
        Some("sharpness is measured by the single-model trainer")
    } else if !scene.train.schedule.is_constant(scene.train.warmup_steps) {
        Some("learning-rate schedules are trained by the single-model trainer")
    } else if scene.model.dropout > 0.0 {
        Some("dropout is trained by the single-model trainer")
    } else {
        None
    }
}

/// One model of a group: its seed, rates and initial parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSetup {
    /// The scene's seed (batch order; the parameters come from it too).
    pub seed: u64,
    /// One learning rate per weight layer.
    pub rates: Vec<f32>,
    /// The initial parameters, in `Trainer::parameters` order (each layer's
    /// weights `[in][out]` row-major, then its biases).
    pub params: Vec<f32>,
}

impl ModelSetup {
    /// `scene`'s model on `data`: its initial parameters drawn from its seed.
    pub fn of(scene: &Scene, data: &Dataset) -> ModelSetup {
        let params = scene
            .mlp_config(data.inputs, data.outputs())
            .initial_flat_parameters();
        ModelSetup {
            seed: scene.seed,
            rates: scene.learning_rates(),
            params,
        }
    }
}

/// What a model's training gave.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutcome {
    /// The full training set's data loss at steps 0, `eval_every`, ... and
    /// the last step (up to the step it diverged at).
    pub curve: Vec<(u64, f32)>,
    /// The step at which its loss became NaN or infinite.
    pub diverged_at: Option<u64>,
    /// Its final evaluation (losses, accuracies, generalization error,
    /// convergence score, status).
    pub metrics: Metrics,
}

/// An instruction set the kernel is compiled for, as a token that only
/// detection makes ([`Isa::detect`], [`Isa::available`]): safe code cannot
/// ask the kernel for vector instructions this CPU lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isa(IsaKind);

/// The instruction sets themselves, private to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(target_arch = "x86_64"),
    allow(dead_code, reason = "only x86-64 detects the vector sets")
)]
enum IsaKind {
    /// 16 models per vector (x86-64 with AVX-512F and FMA).
    Avx512,
    /// 8 models per vector (x86-64 with AVX2 and FMA).
    Avx2,
    /// Portable code, 8 models per tile.
    Portable,
}

impl Isa {
    /// The best this CPU runs.
    pub fn detect() -> Isa {
        Isa::available()[0]
    }

    /// Every instruction set this CPU runs, best first; the portable code,
    /// which every CPU runs, is last.
    pub fn available() -> Vec<Isa> {
        let mut out = Vec::with_capacity(3);
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2") {
                if std::is_x86_feature_detected!("avx512f") {
                    out.push(Isa(IsaKind::Avx512));
                }
                out.push(Isa(IsaKind::Avx2));
            }
        }
        out.push(Isa(IsaKind::Portable));
        out
    }

    /// Whether this is the portable code (no vector instructions chosen, no
    /// fused multiply-add on x86-64).
    pub fn is_portable(self) -> bool {
        self.0 == IsaKind::Portable
    }

    /// Models per tile.
    pub fn lanes(self) -> usize {
        match self.0 {
            IsaKind::Avx512 => 16,
            IsaKind::Avx2 | IsaKind::Portable => 8,
        }
    }

    /// A short name, for progress lines and benchmarks.
    pub fn name(self) -> &'static str {
        match self.0 {
            IsaKind::Avx512 => "avx512",
            IsaKind::Avx2 => "avx2",
            IsaKind::Portable => "portable",
        }
    }
}

/// Trains every model of `models` on `data`, `threads` at a time; `done`
/// counts models finished (for progress bars). Results are in `models` order.
pub fn train_models(
    network: &MlpConfig,
    training: &TrainSpec,
    data: &Dataset,
    models: &[ModelSetup],
    threads: usize,
    done: &AtomicU64,
) -> Vec<ModelOutcome> {
    train_models_on(
        Isa::detect(),
        network,
        training,
        data,
        models,
        threads,
        done,
    )
}

/// [`train_models`] with the instruction set chosen among those this CPU
/// has ([`Isa::available`]).
pub fn train_models_on(
    isa: Isa,
    network: &MlpConfig,
    training: &TrainSpec,
    data: &Dataset,
    models: &[ModelSetup],
    threads: usize,
    done: &AtomicU64,
) -> Vec<ModelOutcome> {
    let group = Group::new(network, training, data);
    let lanes = isa.lanes();
    let tiles: Vec<&[ModelSetup]> = models.chunks(lanes).collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Vec<ModelOutcome>)>> =
        Mutex::new(Vec::with_capacity(tiles.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, tiles.len().max(1)) {
            scope.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(tile) = tiles.get(k) else { break };
                    mine.push((k, group.train_tile(isa, tile)));
                    done.fetch_add(tile.len() as u64, Ordering::Relaxed);
                }
                if let Ok(mut r) = results.lock() {
                    r.extend(mine);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(k, _)| *k);
    results.into_iter().flat_map(|(_, o)| o).collect()
}

/// One split, sample-major, as the kernel reads it.
struct Prepared {
    /// Inputs `[n][inputs]`.
    x: Vec<f32>,
    /// Targets `[n][outputs]` (one-hot for classes).
    t: Vec<f32>,
    /// Class labels, for accuracy.
    labels: Option<Vec<u32>>,
    n: usize,
}

impl Prepared {
    fn new(x: &[f32], targets: &Targets, outputs: usize) -> Self {
        let (t, labels) = match targets {
            Targets::Labels(l) => {
                let mut t = vec![0.0; l.len() * outputs];
                for (s, &c) in l.iter().enumerate() {
                    if let Some(slot) = t.get_mut(s * outputs + c as usize) {
                        *slot = 1.0;
                    }
                }
                (t, Some(l.clone()))
            }
            Targets::Values(v) => (v.clone(), None),
        };
        let n = t.len() / outputs.max(1);
        Prepared {
            x: x.to_vec(),
            t,
            labels,
            n,
        }
    }
}

/// A group's settings and prepared data.
struct Group<'a> {
    network: &'a MlpConfig,
    training: &'a TrainSpec,
    /// The loss (the training settings' own, resolved).
    loss: LossKind,
    data: &'a Dataset,
    train: Prepared,
    test: Prepared,
    /// Test samples outside the training region.
    outside: Vec<bool>,
    offsets: Vec<(usize, usize)>,
}

impl<'a> Group<'a> {
    fn new(network: &'a MlpConfig, training: &'a TrainSpec, data: &'a Dataset) -> Self {
        let outputs = network.outputs().max(1);
        Group {
            network,
            training,
            loss: training.loss_for(network.output),
            data,
            train: Prepared::new(&data.train.x, &data.train.targets, outputs),
            test: Prepared::new(&data.test.x, &data.test.targets, outputs),
            outside: (0..data.test.len())
                .map(|i| data.train_region.is_some() && !data.in_train_region(data.test_input(i)))
                .collect(),
            offsets: network.offsets(),
        }
    }

    /// Trains one tile of models with the widest vectors `isa` allows.
    fn train_tile(&self, isa: Isa, tile: &[ModelSetup]) -> Vec<ModelOutcome> {
        #[cfg(target_arch = "x86_64")]
        match isa.0 {
            // SAFETY: only `Isa::available` makes an `Isa`, and it makes this
            // one only when the CPU has AVX-512F, AVX2 and FMA.
            IsaKind::Avx512 => return unsafe { self.tile_avx512(tile) },
            // SAFETY: as above, for AVX2 and FMA.
            IsaKind::Avx2 => return unsafe { self.tile_avx2(tile) },
            IsaKind::Portable => {}
        }
        let _ = isa;
        Tile::<8>::new(self, tile).train::<{ cfg!(target_arch = "aarch64") }>()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn tile_avx512(&self, tile: &[ModelSetup]) -> Vec<ModelOutcome> {
        Tile::<16>::new(self, tile).train::<true>()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile_avx2(&self, tile: &[ModelSetup]) -> Vec<ModelOutcome> {
        Tile::<8>::new(self, tile).train::<true>()
    }
}

impl ModelOutcome {
    /// Each model's outcome from its curve, divergence step and metrics.
    pub(super) fn all(
        curves: Vec<Vec<(u64, f32)>>,
        diverged_at: Vec<Option<u64>>,
        metrics: Vec<Metrics>,
    ) -> Vec<ModelOutcome> {
        curves
            .into_iter()
            .zip(diverged_at)
            .zip(metrics)
            .map(|((curve, diverged_at), metrics)| ModelOutcome {
                curve,
                diverged_at,
                metrics,
            })
            .collect()
    }
}

/// The final metrics of models whose final parameters are in `finals`
/// (`params`), with their kept curves and divergence steps: the kernel's one
/// definition of every metric, for the tensor trainer.
pub fn evaluate_models(
    network: &MlpConfig,
    training: &TrainSpec,
    data: &Dataset,
    finals: &[ModelSetup],
    curves: &[Vec<(u64, f32)>],
    diverged_at: &[Option<u64>],
) -> Vec<Metrics> {
    let group = Group::new(network, training, data);
    let mut out = Vec::with_capacity(finals.len());
    for (i, tile) in finals.chunks(8).enumerate() {
        let range = i * 8..i * 8 + tile.len();
        let mut t = Tile::<8>::new(&group, tile);
        out.extend(t.final_metrics::<false>(&curves[range.clone()], &diverged_at[range]));
    }
    out
}

/// Rows of values a layer reads: `[f32]` is shared by every model (the data
/// set itself, broadcast), `[[f32; L]]` has one value per model.
trait Rows<const L: usize> {
    fn lanes(&self, at: usize) -> [f32; L];
}

impl<const L: usize> Rows<L> for [f32] {
    #[inline(always)]
    fn lanes(&self, at: usize) -> [f32; L] {
        [self[at]; L]
    }
}

impl<const L: usize> Rows<L> for [[f32; L]] {
    #[inline(always)]
    fn lanes(&self, at: usize) -> [f32; L] {
        self[at]
    }
}

/// A mini-batch: the same samples for every model, or each model's own.
enum Batch<const L: usize> {
    /// The whole training set.
    Full,
    /// Samples shared by all models (one seed): `x [b][in]`, `t [b][out]`.
    Shared {
        x: Vec<f32>,
        t: Vec<f32>,
        len: usize,
    },
    /// Each model's samples: `x [b][in][L]`, `t [b][out][L]`.
    Lanes {
        x: Vec<[f32; L]>,
        t: Vec<[f32; L]>,
        len: usize,
    },
}

/// One tile of `L` models and its scratch space.
struct Tile<'g, 'a, const L: usize> {
    g: &'g Group<'a>,
    /// Models in the tile (lanes past it repeat the last one).
    real: usize,
    seeds: Vec<u64>,
    params: Vec<[f32; L]>,
    /// Each parameter's learning rate (its layer's, per model), flat like
    /// `params`, so the update is one flat loop.
    rate: Vec<f32>,
    grad: Vec<[f32; L]>,
    /// Momentum's velocity or Adam's first moment; Adam's second moment.
    m1: Vec<[f32; L]>,
    m2: Vec<[f32; L]>,
    /// Scaled pre-activations, per weight layer, `[samples][width]`.
    z: Vec<Vec<[f32; L]>>,
    /// Activations of hidden layers, `[samples][width]`.
    h: Vec<Vec<[f32; L]>>,
    /// ∂L/∂z per weight layer.
    delta: Vec<Vec<[f32; L]>>,
    /// Each layer's scaled weights transposed, `[out][in]`, for backprop.
    wt: Vec<Vec<[f32; L]>>,
    /// Per-sample losses of the last pass.
    losses: Vec<[f32; L]>,
}

#[inline(always)]
fn fma<const L: usize, const FMA: bool>(a: &[f32; L], b: &[f32; L], c: &mut [f32; L]) {
    for k in 0..L {
        c[k] = if FMA {
            a[k].mul_add(b[k], c[k])
        } else {
            a[k] * b[k] + c[k]
        };
    }
}

impl<'g, 'a, const L: usize> Tile<'g, 'a, L> {
    fn new(g: &'g Group<'a>, tile: &[ModelSetup]) -> Self {
        let shape = g.network;
        let count = shape.parameter_count();
        let real = tile.len().clamp(1, L);
        let lane = |k: usize| &tile[k.min(tile.len().saturating_sub(1))];
        let mut params = vec![[0.0; L]; count];
        let mut rate = vec![0.0; count * L];
        for k in 0..L {
            let setup = lane(k);
            for (p, v) in params.iter_mut().zip(&setup.params) {
                p[k] = *v;
            }
        }
        for (l, w) in shape.sizes.windows(2).enumerate() {
            let (at, _) = g.offsets[l];
            let len = w[0] * w[1] + if shape.bias { w[1] } else { 0 };
            for p in at..at + len {
                for k in 0..L {
                    rate[p * L + k] = lane(k).rates.get(l).copied().unwrap_or(0.0);
                }
            }
        }
        let n = g.train.n.max(g.test.n).max(1);
        let widths = &shape.sizes[1..];
        Tile {
            g,
            real,
            seeds: (0..L).map(|k| lane(k).seed).collect(),
            params,
            rate,
            grad: vec![[0.0; L]; count],
            m1: vec![[0.0; L]; count],
            m2: vec![[0.0; L]; count],
            z: widths.iter().map(|w| vec![[0.0; L]; w * n]).collect(),
            h: widths.iter().map(|w| vec![[0.0; L]; w * n]).collect(),
            delta: widths.iter().map(|w| vec![[0.0; L]; w * n]).collect(),
            wt: shape
                .sizes
                .windows(2)
                .map(|w| vec![[0.0; L]; w[0] * w[1]])
                .collect(),
            losses: vec![[0.0; L]; n],
        }
    }

    /// The whole training run of the tile.
    #[inline(always)]
    fn train<const FMA: bool>(mut self) -> Vec<ModelOutcome> {
        let g = self.g;
        let s = g.training;
        let n = g.train.n;
        let batch = match s.optimizer {
            OptimizerKind::Gd => n,
            _ => s.batch_size.min(n),
        };
        let shared_order = self.seeds.iter().all(|&seed| seed == self.seeds[0]);
        let mut samplers: Vec<BatchSampler> = if shared_order {
            vec![BatchSampler::new(n, self.seeds[0])]
        } else {
            self.seeds
                .iter()
                .map(|&seed| BatchSampler::new(n, seed))
                .collect()
        };
        let mut curves: Vec<Vec<(u64, f32)>> = vec![Vec::new(); self.real];
        let mut diverged_at: Vec<Option<u64>> = vec![None; self.real];
        let mut has_state = false;
        for step in 0..s.steps {
            if diverged_at.iter().all(Option::is_some) {
                break;
            }
            let due = step.is_multiple_of(s.eval_every.max(1));
            let batch = self.next_batch(&mut samplers, batch);
            let full = matches!(batch, Batch::Full);
            // The evaluation's training loss: full-batch steps compute it anyway.
            if due && !full {
                let loss = self.forward::<FMA, [f32]>(&g.train.x, &g.train.t, n);
                for k in 0..self.real {
                    if diverged_at[k].is_none() {
                        curves[k].push((step, loss[k]));
                        if !loss[k].is_finite() {
                            diverged_at[k] = Some(step);
                        }
                    }
                }
            }
            let loss = match &batch {
                Batch::Full => self.forward_backward::<FMA, [f32]>(&g.train.x, &g.train.t, n),
                Batch::Shared { x, t, len } => self.forward_backward::<FMA, [f32]>(x, t, *len),
                Batch::Lanes { x, t, len } => self.forward_backward::<FMA, [[f32; L]]>(x, t, *len),
            };
            let penalty = self.penalty();
            for k in 0..self.real {
                if diverged_at[k].is_some() {
                    continue;
                }
                if due && full {
                    curves[k].push((step, loss[k]));
                }
                if !(loss[k] + penalty[k]).is_finite() {
                    diverged_at[k] = Some(step);
                }
            }
            self.update(step, &mut has_state);
        }
        let last = self.forward::<FMA, [f32]>(&g.train.x, &g.train.t, n);
        for k in 0..self.real {
            if diverged_at[k].is_none() {
                if curves[k].last().is_none_or(|(at, _)| *at != s.steps) {
                    curves[k].push((s.steps, last[k]));
                }
                if !last[k].is_finite() {
                    diverged_at[k] = Some(s.steps);
                }
            }
        }
        let metrics = self.final_metrics::<FMA>(&curves, &diverged_at);
        ModelOutcome::all(curves, diverged_at, metrics)
    }

    /// The next mini-batch, gathered from the training set.
    fn next_batch(&self, samplers: &mut [BatchSampler], batch: usize) -> Batch<L> {
        let g = self.g;
        let (inputs, outputs) = (g.network.inputs(), g.network.outputs());
        if let [only] = samplers {
            let Some(idx) = only.next(batch) else {
                return Batch::Full;
            };
            let mut x = Vec::with_capacity(idx.len() * inputs);
            let mut t = Vec::with_capacity(idx.len() * outputs);
            for &i in idx {
                x.extend_from_slice(&g.train.x[i * inputs..(i + 1) * inputs]);
                t.extend_from_slice(&g.train.t[i * outputs..(i + 1) * outputs]);
            }
            return Batch::Shared {
                x,
                t,
                len: idx.len(),
            };
        }
        let mut x = vec![[0.0; L]; batch * inputs];
        let mut t = vec![[0.0; L]; batch * outputs];
        for (k, sampler) in samplers.iter_mut().enumerate() {
            let Some(idx) = sampler.next(batch) else {
                return Batch::Full;
            };
            for (b, &i) in idx.iter().enumerate() {
                for f in 0..inputs {
                    x[b * inputs + f][k] = g.train.x[i * inputs + f];
                }
                for o in 0..outputs {
                    t[b * outputs + o][k] = g.train.t[i * outputs + o];
                }
            }
        }
        Batch::Lanes { x, t, len: batch }
    }

    /// The forward pass of `n` samples `x` (targets `t`): each model's mean
    /// data loss, with the per-sample losses in `self.losses`.
    #[inline(always)]
    fn forward<const FMA: bool, R: Rows<L> + ?Sized>(
        &mut self,
        x: &R,
        t: &R,
        n: usize,
    ) -> [f32; L] {
        let shape = self.g.network;
        let layers = shape.layer_count();
        for l in 0..layers {
            let (fan_in, fan_out) = (shape.sizes[l], shape.sizes[l + 1]);
            let (wo, bo) = self.g.offsets[l];
            let scale = shape.scales.get(l).copied().unwrap_or(1.0);
            let w = &self.params[wo..wo + fan_in * fan_out];
            let b = shape.bias.then(|| &self.params[bo..bo + fan_out]);
            let (below, rest) = self.h.split_at_mut(l);
            let z = &mut self.z[l][..n * fan_out];
            let dims = Dims {
                fan_in,
                fan_out,
                n,
                scale,
            };
            if l == 0 {
                matmul::<L, FMA, R>(x, w, b, dims, z);
            } else {
                let input: &[[f32; L]] = &below[l - 1][..n * fan_in];
                matmul::<L, FMA, [[f32; L]]>(input, w, b, dims, z);
            }
            if l + 1 < layers {
                activate(shape.activations[l], z, &mut rest[0][..n * fan_out]);
            }
        }
        self.output_loss(t, n)
    }

    /// [`Self::forward`], then the gradient of the mean loss (penalties
    /// included) into `self.grad`.
    #[inline(always)]
    fn forward_backward<const FMA: bool, R: Rows<L> + ?Sized>(
        &mut self,
        x: &R,
        t: &R,
        n: usize,
    ) -> [f32; L] {
        let loss = self.forward::<FMA, R>(x, t, n);
        let shape = self.g.network;
        let layers = shape.layer_count();
        for l in (0..layers).rev() {
            let (fan_in, fan_out) = (shape.sizes[l], shape.sizes[l + 1]);
            let (wo, bo) = self.g.offsets[l];
            let scale = shape.scales.get(l).copied().unwrap_or(1.0);
            let (lower, upper) = self.delta.split_at_mut(l);
            let delta: &[[f32; L]] = &upper[0][..n * fan_out];
            let grad = &mut self.grad[wo..wo + fan_in * fan_out];
            let dims = Dims {
                fan_in,
                fan_out,
                n,
                scale,
            };
            if l == 0 {
                weight_gradient::<L, FMA, R>(x, delta, dims, grad);
            } else {
                let input: &[[f32; L]] = &self.h[l - 1][..n * fan_in];
                weight_gradient::<L, FMA, [[f32; L]]>(input, delta, dims, grad);
            }
            if shape.bias {
                for j in 0..fan_out {
                    let mut acc = [0.0; L];
                    for s in 0..n {
                        let d = &delta[s * fan_out + j];
                        for k in 0..L {
                            acc[k] += d[k];
                        }
                    }
                    let g = &mut self.grad[bo + j];
                    for k in 0..L {
                        g[k] = scale * acc[k];
                    }
                }
            }
            if l > 0 {
                // ∂L/∂a of the layer below (through the scaled weights), then
                // through its activation.
                let wt = &mut self.wt[l];
                let w = &self.params[wo..wo + fan_in * fan_out];
                for i in 0..fan_in {
                    for j in 0..fan_out {
                        let (src, dst) = (&w[i * fan_out + j], &mut wt[j * fan_in + i]);
                        for k in 0..L {
                            dst[k] = scale * src[k];
                        }
                    }
                }
                let below = &mut lower[l - 1][..n * fan_in];
                // Back through the layer: its transpose, already scaled.
                let back = Dims {
                    fan_in: fan_out,
                    fan_out: fan_in,
                    n,
                    scale: 1.0,
                };
                matmul::<L, FMA, [[f32; L]]>(delta, wt, None, back, below);
                derive(
                    shape.activations[l - 1],
                    &self.z[l - 1][..n * fan_in],
                    &self.h[l - 1][..n * fan_in],
                    below,
                );
            }
        }
        let s = self.g.training;
        if s.l1 != 0.0 || s.l2 != 0.0 {
            for (l, w) in shape.sizes.windows(2).enumerate() {
                let (at, _) = self.g.offsets[l];
                for p in at..at + w[0] * w[1] {
                    let (v, g) = (self.params[p], &mut self.grad[p]);
                    for k in 0..L {
                        let sign = if v[k] > 0.0 {
                            1.0
                        } else if v[k] < 0.0 {
                            -1.0
                        } else {
                            0.0
                        };
                        g[k] += 2.0 * s.l2 * v[k] + s.l1 * sign;
                    }
                }
            }
        }
        loss
    }

    /// The weight penalties `l1·Σ|w| + l2·Σw²` of each model.
    fn penalty(&self) -> [f32; L] {
        let s = self.g.training;
        let mut total = [0.0f32; L];
        if s.l1 == 0.0 && s.l2 == 0.0 {
            return total;
        }
        for (l, w) in self.g.network.sizes.windows(2).enumerate() {
            let (at, _) = self.g.offsets[l];
            for v in &self.params[at..at + w[0] * w[1]] {
                for k in 0..L {
                    total[k] += s.l2 * v[k] * v[k] + s.l1 * v[k].abs();
                }
            }
        }
        total
    }

    /// Each model's mean data loss over the `n` samples of the last forward
    /// pass (targets `t`), and ∂L/∂z of the output layer into `self.delta`.
    #[inline(always)]
    fn output_loss<R: Rows<L> + ?Sized>(&mut self, t: &R, n: usize) -> [f32; L] {
        let shape = self.g.network;
        let layers = shape.layer_count();
        let o = shape.sizes[layers];
        let z = &self.z[layers - 1][..n * o];
        let delta = &mut self.delta[layers - 1][..n * o];
        let inv = 1.0 / n as f32;
        let softmax = shape.output == OutputKind::Softmax;
        let mut total = [0.0f64; L];
        for s in 0..n {
            let zs = &z[s * o..(s + 1) * o];
            let ds = &mut delta[s * o..(s + 1) * o];
            let mut loss = [0.0f32; L];
            // The softmax's largest logit and Σ exp(z − max).
            let (mut max, mut sum) = ([0.0f32; L], [0.0f32; L]);
            if softmax {
                max = zs[0];
                for zk in &zs[1..] {
                    for k in 0..L {
                        max[k] = max[k].max(zk[k]);
                    }
                }
                for zk in zs {
                    for k in 0..L {
                        sum[k] += fastmath::exp(zk[k] - max[k]);
                    }
                }
            }
            match self.g.loss {
                LossKind::CrossEntropy => {
                    // −Σ t·log_softmax(z), and ∂/∂z = softmax(z) − t (t sums to 1).
                    for (c, (zc, dc)) in zs.iter().zip(ds.iter_mut()).enumerate() {
                        let tc = t.lanes(s * o + c);
                        for k in 0..L {
                            let lse = max[k] + fastmath::ln(sum[k]);
                            loss[k] -= tc[k] * (zc[k] - lse);
                            dc[k] = (fastmath::exp(zc[k] - max[k]) / sum[k] - tc[k]) * inv;
                        }
                    }
                }
                LossKind::Mse | LossKind::L1 | LossKind::Residual => {
                    let l1 = self.g.loss == LossKind::L1;
                    let per = 1.0 / o as f32;
                    // ∂loss/∂output into `ds`, the outputs kept for the softmax.
                    let mut gp = [0.0f32; L];
                    for (c, (zc, dc)) in zs.iter().zip(ds.iter_mut()).enumerate() {
                        let tc = t.lanes(s * o + c);
                        for k in 0..L {
                            let y = if softmax {
                                fastmath::exp(zc[k] - max[k]) / sum[k]
                            } else {
                                zc[k]
                            };
                            let e = y - tc[k];
                            loss[k] += if l1 { e.abs() } else { e * e } * per;
                            let d = if l1 {
                                if e > 0.0 {
                                    1.0
                                } else if e < 0.0 {
                                    -1.0
                                } else {
                                    0.0
                                }
                            } else {
                                2.0 * e
                            };
                            dc[k] = d * per * inv;
                            gp[k] += dc[k] * y;
                        }
                    }
                    if softmax {
                        for (zc, dc) in zs.iter().zip(ds.iter_mut()) {
                            for k in 0..L {
                                let y = fastmath::exp(zc[k] - max[k]) / sum[k];
                                dc[k] = y * (dc[k] - gp[k]);
                            }
                        }
                    }
                }
            }
            self.losses[s] = loss;
            for k in 0..L {
                total[k] += f64::from(loss[k]);
            }
        }
        total.map(|v| (v / n.max(1) as f64) as f32)
    }

    /// One optimiser step of every model with its own per-layer rates.
    fn update(&mut self, step: u64, has_state: &mut bool) {
        let s = self.g.training;
        let p = self.params.as_flattened_mut();
        let g = self.grad.as_flattened();
        let rate = self.rate.as_slice();
        match s.optimizer {
            OptimizerKind::Gd | OptimizerKind::Sgd => {
                for ((pk, gk), rk) in p.iter_mut().zip(g).zip(rate) {
                    *pk -= rk * gk;
                }
            }
            OptimizerKind::Momentum => {
                let v = self.m1.as_flattened_mut();
                for (((pk, gk), vk), rk) in p.iter_mut().zip(g).zip(v).zip(rate) {
                    *vk = if *has_state {
                        *gk + *vk * s.momentum
                    } else {
                        *gk
                    };
                    *pk -= rk * *vk;
                }
            }
            OptimizerKind::Adam => {
                let adam = AdamStep::at(step);
                let first = !*has_state;
                let (m, v) = (self.m1.as_flattened_mut(), self.m2.as_flattened_mut());
                for ((((pk, gk), mk), vk), rk) in p.iter_mut().zip(g).zip(m).zip(v).zip(rate) {
                    *pk -= rk * adam.update(mk, vk, *gk, first);
                }
            }
        }
        *has_state = true;
    }

    /// The final evaluation of each model: losses and accuracies on both
    /// sets, the error outside the training region, the convergence score.
    #[inline(always)]
    fn final_metrics<const FMA: bool>(
        &mut self,
        curves: &[Vec<(u64, f32)>],
        diverged_at: &[Option<u64>],
    ) -> Vec<Metrics> {
        let g = self.g;
        let steps = g.training.steps;
        let classification = g.train.labels.is_some();
        let train_accuracy = classification.then(|| {
            self.forward::<FMA, [f32]>(&g.train.x, &g.train.t, g.train.n);
            self.accuracy(&g.train)
        });
        let test_loss = self.forward::<FMA, [f32]>(&g.test.x, &g.test.t, g.test.n);
        let mut outside = [0.0f64; L];
        let mut outside_count = 0usize;
        for (s, &out) in g.outside.iter().enumerate().take(g.test.n) {
            if out {
                outside_count += 1;
                for (sum, loss) in outside.iter_mut().zip(self.losses[s]) {
                    *sum += f64::from(loss);
                }
            }
        }
        let test_accuracy = classification.then(|| self.accuracy(&g.test));
        (0..self.real)
            .map(|k| {
                let losses: Vec<f32> = curves[k].iter().map(|(_, l)| *l).collect();
                let score = convergence_score(&losses, diverged_at[k], steps);
                if let Some(at) = diverged_at[k] {
                    return Metrics {
                        status: RunStatus::Diverged,
                        convergence_score: Some(score),
                        ..Metrics::at(at)
                    };
                }
                let outside_mean =
                    (outside_count > 0).then(|| (outside[k] / outside_count as f64) as f32);
                let mut m = Metrics {
                    train_loss: curves[k].last().map(|(_, l)| *l),
                    test_loss: Some(test_loss[k]),
                    train_accuracy: train_accuracy.map(|a| a[k]),
                    test_accuracy: test_accuracy.map(|a| a[k]),
                    generalization_error: (g.data.train_region.is_some() && g.data.pde.is_none())
                        .then(|| outside_mean.unwrap_or(f32::NAN)),
                    convergence_score: Some(score),
                    ..Metrics::at(steps)
                };
                if m.is_diverged() {
                    m.status = RunStatus::Diverged;
                }
                m
            })
            .collect()
    }

    /// Each model's accuracy on `set`, whose forward pass is the last one.
    fn accuracy(&self, set: &Prepared) -> [f32; L] {
        let layers = self.g.network.layer_count();
        let o = self.g.network.sizes[layers];
        let z = &self.z[layers - 1];
        let Some(labels) = &set.labels else {
            return [f32::NAN; L];
        };
        let mut correct = [0u32; L];
        for (s, &label) in labels.iter().enumerate().take(set.n) {
            let zs = &z[s * o..(s + 1) * o];
            for k in 0..L {
                let mut best = 0;
                for c in 1..o {
                    // The first largest, as burn's argmax picks it.
                    if zs[c][k] > zs[best][k] {
                        best = c;
                    }
                }
                correct[k] += u32::from(best as u32 == label);
            }
        }
        correct.map(|c| c as f32 / set.n.max(1) as f32)
    }
}

/// The shape of one batched layer product: `n` samples through a layer of
/// `fan_in` inputs and `fan_out` outputs, its sums multiplied by `scale`.
#[derive(Debug, Clone, Copy)]
struct Dims {
    fan_in: usize,
    fan_out: usize,
    n: usize,
    scale: f32,
}

/// `z[s][j] = scale·(b[j] + Σᵢ x[s][i]·w[i][j])` for `n` samples, every
/// model at once: the batched product of one layer.
#[inline(always)]
fn matmul<const L: usize, const FMA: bool, R: Rows<L> + ?Sized>(
    x: &R,
    w: &[[f32; L]],
    b: Option<&[[f32; L]]>,
    d: Dims,
    z: &mut [[f32; L]],
) {
    let mut s = 0;
    while s + 2 <= d.n {
        matmul_rows::<L, FMA, 2, R>(x, w, b, d, s, z);
        s += 2;
    }
    if s < d.n {
        matmul_rows::<L, FMA, 1, R>(x, w, b, d, s, z);
    }
}

/// [`matmul`] for the `S` samples from `s0`, four outputs at a time.
#[inline(always)]
fn matmul_rows<const L: usize, const FMA: bool, const S: usize, R: Rows<L> + ?Sized>(
    x: &R,
    w: &[[f32; L]],
    b: Option<&[[f32; L]]>,
    d: Dims,
    s0: usize,
    z: &mut [[f32; L]],
) {
    let mut j = 0;
    while j + 4 <= d.fan_out {
        matmul_block::<L, FMA, S, 4, R>(x, w, b, d, (s0, j), z);
        j += 4;
    }
    match d.fan_out - j {
        1 => matmul_block::<L, FMA, S, 1, R>(x, w, b, d, (s0, j), z),
        2 => matmul_block::<L, FMA, S, 2, R>(x, w, b, d, (s0, j), z),
        3 => matmul_block::<L, FMA, S, 3, R>(x, w, b, d, (s0, j), z),
        _ => {}
    }
}

/// The `S × J` block of outputs at sample `s0`, neuron `j0`, its sums held
/// in registers over the whole input.
#[inline(always)]
fn matmul_block<
    const L: usize,
    const FMA: bool,
    const S: usize,
    const J: usize,
    R: Rows<L> + ?Sized,
>(
    x: &R,
    w: &[[f32; L]],
    b: Option<&[[f32; L]]>,
    d: Dims,
    (s0, j0): (usize, usize),
    z: &mut [[f32; L]],
) {
    let Dims {
        fan_in,
        fan_out,
        scale,
        ..
    } = d;
    let mut acc = [[[0.0f32; L]; J]; S];
    if let Some(b) = b {
        let b = &b[j0..j0 + J];
        for row in acc.iter_mut() {
            row.copy_from_slice(b);
        }
    }
    for i in 0..fan_in {
        let wi = &w[i * fan_out + j0..i * fan_out + j0 + J];
        let mut xs = [[0.0f32; L]; S];
        for (r, xr) in xs.iter_mut().enumerate() {
            *xr = x.lanes((s0 + r) * fan_in + i);
        }
        for r in 0..S {
            for c in 0..J {
                fma::<L, FMA>(&xs[r], &wi[c], &mut acc[r][c]);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        let at = (s0 + r) * fan_out + j0;
        for (out, sum) in z[at..at + J].iter_mut().zip(row) {
            for k in 0..L {
                out[k] = sum[k] * scale;
            }
        }
    }
}

/// `g[i][j] = scale·Σₛ x[s][i]·δ[s][j]`: a layer's weight gradient for every
/// model, blocks of 2 inputs × 4 outputs held in registers over the samples.
#[inline(always)]
fn weight_gradient<const L: usize, const FMA: bool, R: Rows<L> + ?Sized>(
    x: &R,
    delta: &[[f32; L]],
    d: Dims,
    g: &mut [[f32; L]],
) {
    let mut i = 0;
    while i + 2 <= d.fan_in {
        weight_gradient_rows::<L, FMA, 2, R>(x, delta, d, i, g);
        i += 2;
    }
    if i < d.fan_in {
        weight_gradient_rows::<L, FMA, 1, R>(x, delta, d, i, g);
    }
}

/// [`weight_gradient`] for the `I` inputs from `i0`.
#[inline(always)]
fn weight_gradient_rows<const L: usize, const FMA: bool, const I: usize, R: Rows<L> + ?Sized>(
    x: &R,
    delta: &[[f32; L]],
    d: Dims,
    i0: usize,
    g: &mut [[f32; L]],
) {
    let mut j = 0;
    while j + 4 <= d.fan_out {
        weight_gradient_block::<L, FMA, I, 4, R>(x, delta, d, (i0, j), g);
        j += 4;
    }
    match d.fan_out - j {
        1 => weight_gradient_block::<L, FMA, I, 1, R>(x, delta, d, (i0, j), g),
        2 => weight_gradient_block::<L, FMA, I, 2, R>(x, delta, d, (i0, j), g),
        3 => weight_gradient_block::<L, FMA, I, 3, R>(x, delta, d, (i0, j), g),
        _ => {}
    }
}

/// The `I × J` block of the gradient at input `i0`, neuron `j0`, its sums
/// held in registers over the samples.
#[inline(always)]
fn weight_gradient_block<
    const L: usize,
    const FMA: bool,
    const I: usize,
    const J: usize,
    R: Rows<L> + ?Sized,
>(
    x: &R,
    delta: &[[f32; L]],
    d: Dims,
    (i0, j0): (usize, usize),
    g: &mut [[f32; L]],
) {
    let Dims {
        fan_in,
        fan_out,
        n,
        scale,
    } = d;
    let mut acc = [[[0.0f32; L]; J]; I];
    for s in 0..n {
        let ds = &delta[s * fan_out + j0..s * fan_out + j0 + J];
        let mut xs = [[0.0f32; L]; I];
        for (r, xr) in xs.iter_mut().enumerate() {
            *xr = x.lanes(s * fan_in + i0 + r);
        }
        for r in 0..I {
            for c in 0..J {
                fma::<L, FMA>(&xs[r], &ds[c], &mut acc[r][c]);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        let at = (i0 + r) * fan_out + j0;
        for (out, sum) in g[at..at + J].iter_mut().zip(row) {
            for k in 0..L {
                out[k] = scale * sum[k];
            }
        }
    }
}

/// `out = f(z)`, elementwise. (Flat slices: the model axis is just more
/// elements here, and a flat loop is one LLVM vectorises along memory.)
#[inline(always)]
fn activate<const L: usize>(f: Activation, z: &[[f32; L]], out: &mut [[f32; L]]) {
    #[inline(always)]
    fn each(z: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32) {
        for (o, v) in out.iter_mut().zip(z) {
            *o = f(*v);
        }
    }
    let (z, out) = (z.as_flattened(), out.as_flattened_mut());
    match f {
        Activation::Tanh => each(z, out, fastmath::tanh),
        Activation::Relu => each(z, out, |v| v.max(0.0)),
        Activation::Sigmoid => each(z, out, fastmath::sigmoid),
        Activation::Gelu => each(z, out, fastmath::gelu),
        Activation::Linear => out.copy_from_slice(z),
    }
}

/// `d *= f′(z)`, from the pre-activation `z` or the activation `a`.
#[inline(always)]
fn derive<const L: usize>(f: Activation, z: &[[f32; L]], a: &[[f32; L]], d: &mut [[f32; L]]) {
    let (z, a, d) = (z.as_flattened(), a.as_flattened(), d.as_flattened_mut());
    match f {
        Activation::Tanh => {
            for (dk, ak) in d.iter_mut().zip(a) {
                *dk *= 1.0 - ak * ak;
            }
        }
        Activation::Relu => {
            for (dk, zk) in d.iter_mut().zip(z) {
                if *zk <= 0.0 {
                    *dk = 0.0;
                }
            }
        }
        Activation::Sigmoid => {
            for (dk, ak) in d.iter_mut().zip(a) {
                *dk *= ak * (1.0 - ak);
            }
        }
        Activation::Gelu => {
            for (dk, zk) in d.iter_mut().zip(z) {
                *dk *= fastmath::gelu_derivative(*zk);
            }
        }
        Activation::Linear => {}
    }
}
