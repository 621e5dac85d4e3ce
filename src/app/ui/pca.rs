//! The 2D projection of high-dimensional data: the test samples in the
//! plane of their first two principal components, coloured by the class the
//! shown frame predicts, errors crossed out in red; a click on a sample
//! makes it the probe.

use std::sync::Arc;
use std::time::Duration;

use bevy_egui::egui;
use crossbeam_channel::{Receiver, TryRecvError};
use egui_plot::{Legend, MarkerShape, Plot, PlotPoints, Points};

use crate::app::beside::beside;
use crate::app::ui::task_view::{CLASS_COLOURS, REFRESH_COST_SHARE, TaskInput};
use crate::lab::Frame;
use crate::lab::analysis::Pca;
use crate::lab::clock::Instant;
use crate::lab::data::Dataset;
use crate::lab::model::plain_forward;

/// Test samples projected (the first ones of the test set).
pub(crate) const PCA_SAMPLES: usize = 1000;

/// Predict the projected samples anew at most this often (and no more than
/// [`REFRESH_COST_SHARE`] allows).
const PREDICT_EVERY: Duration = Duration::from_millis(250);

/// Colours past [`CLASS_COLOURS`], for up to ten classes (digits).
const MORE_COLOURS: [[u8; 3]; 4] = [
    [140, 86, 75],
    [227, 119, 194],
    [188, 189, 34],
    [160, 160, 160],
];

/// The colour of class `c` in the projection.
pub(crate) fn pca_colour(c: usize) -> egui::Color32 {
    let [r, g, b] = CLASS_COLOURS
        .get(c)
        .or_else(|| MORE_COLOURS.get(c - CLASS_COLOURS.len()))
        .copied()
        .unwrap_or([200, 200, 200]);
    egui::Color32::from_rgb(r, g, b)
}

/// The fitted plane and where the samples fall in it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PcaFit {
    /// The principal plane.
    pub pca: Pca,
    /// Each projected test sample's coordinates.
    pub points: Vec<[f32; 2]>,
}

impl PcaFit {
    /// The plane of `data`'s first [`PCA_SAMPLES`] test samples.
    pub(crate) fn of(data: &Dataset) -> Option<PcaFit> {
        let n = data.test.len().min(PCA_SAMPLES);
        let x = &data.test.x[..n * data.inputs];
        let pca = Pca::fit(x, data.inputs)?;
        let points = x
            .chunks_exact(data.inputs)
            .map(|r| pca.project(r))
            .collect();
        Some(PcaFit { pca, points })
    }

    /// The sample nearest plot point `at`.
    pub(crate) fn nearest(&self, at: [f64; 2]) -> Option<usize> {
        let d =
            |p: &[f32; 2]| (f64::from(p[0]) - at[0]).powi(2) + (f64::from(p[1]) - at[1]).powi(2);
        (0..self.points.len()).min_by(|&a, &b| d(&self.points[a]).total_cmp(&d(&self.points[b])))
    }
}

/// The predicted class of each of the first `n` test samples under `frame`.
pub(crate) fn predictions(frame: &Frame, input: &TaskInput<'_>, n: usize) -> Vec<u32> {
    let layers = frame.dense_layers();
    let (activations, output) = (
        &input.topology.network.activations,
        input.topology.network.output,
    );
    (0..n.min(input.data.test.len()))
        .map(|i| {
            let out = plain_forward(&layers, activations, output, input.data.test_input(i))
                .post
                .pop()
                .unwrap_or_default();
            out.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(c, _)| c as u32)
        })
        .collect()
}

/// A result, and how long it took to compute.
type Timed<T> = (T, Duration);

/// The projection, its predictions, and the work under way off the UI thread
/// (a fit of MNIST, or its predictions, take long enough to drop frames).
#[derive(Default)]
pub(crate) struct PcaView {
    /// The run (the change tick of its start) the fit belongs to.
    run: Option<u64>,
    /// The fit.
    fit: Option<Arc<PcaFit>>,
    /// A fit under way.
    fit_job: Option<Receiver<Option<PcaFit>>>,
    /// The frame (its serial) the predictions are of, and the predictions.
    predicted: Option<(u64, Vec<u32>)>,
    /// Predictions under way, for the frame with this serial, and how long
    /// they took.
    prediction_job: Option<(u64, Receiver<Timed<Vec<u32>>>)>,
    /// When the latest predictions were started.
    predicted_at: Option<Instant>,
    /// How long the latest predictions took.
    prediction_cost: Duration,
    /// Where the last click fell, in plot coordinates.
    pub last_click: Option<[f64; 2]>,
}

impl PcaView {
    /// True while a fit or predictions are being computed.
    pub(crate) fn busy(&self) -> bool {
        self.fit_job.is_some() || self.prediction_job.is_some()
    }

    #[cfg(test)]
    /// The fit, once made.
    pub(crate) fn fit(&self) -> Option<&PcaFit> {
        self.fit.as_deref()
    }

    /// The predictions shown, once made.
    pub(crate) fn predictions(&self) -> Option<&[u32]> {
        self.predicted.as_ref().map(|(_, p)| p.as_slice())
    }

    fn refresh(&mut self, input: &TaskInput<'_>) {
        if self.run != Some(input.key.run) {
            self.run = Some(input.key.run);
            self.fit = None;
            self.predicted = None;
            self.prediction_job = None;
            let data = input.data.clone();
            self.fit_job = Some(beside("pca", move || PcaFit::of(&data)));
        }
        if let Some(rx) = &self.fit_job {
            match rx.try_recv() {
                Ok(fit) => {
                    self.fit = fit.map(Arc::new);
                    self.fit_job = None;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => self.fit_job = None,
            }
        }
        if let Some((serial, rx)) = &self.prediction_job {
            match rx.try_recv() {
                Ok((p, cost)) => {
                    self.predicted = Some((*serial, p));
                    self.prediction_cost = cost;
                    self.prediction_job = None;
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => self.prediction_job = None,
            }
        }
        if self
            .predicted
            .as_ref()
            .is_some_and(|(s, _)| *s == input.key.frame)
        {
            return;
        }
        // A new run's are made at once; then they wait their turn.
        let wait = PREDICT_EVERY.max(self.prediction_cost * REFRESH_COST_SHARE);
        if self.predicted.is_some() && self.predicted_at.is_some_and(|t| t.elapsed() < wait) {
            return;
        }
        self.predicted_at = Some(Instant::now());
        let frame = input.frame.clone();
        let (data, topology) = (input.data.clone(), input.topology.clone());
        let key = input.key;
        let rx = beside("pca-predictions", move || {
            let started = Instant::now();
            let input = TaskInput {
                key,
                data: &data,
                frame: &frame,
                topology: &topology,
            };
            let predicted = predictions(&frame, &input, PCA_SAMPLES);
            (predicted, started.elapsed())
        });
        self.prediction_job = Some((input.key.frame, rx));
    }
}

/// Draws the projection, the probe ringed; returns the sample clicked.
pub(crate) fn pca_view_ui(
    ui: &mut egui::Ui,
    view: &mut PcaView,
    input: &TaskInput<'_>,
    probe: Option<usize>,
    height: f32,
) -> Option<usize> {
    view.refresh(input);
    let Some(fit) = view.fit.clone() else {
        ui.label(if view.busy() {
            "Finding the principal components…"
        } else {
            "No projection: the data needs two inputs and two test samples at least."
        });
        return None;
    };
    let [e0, e1] = fit.pca.explained();
    let predicted = view.predictions().map(<[u32]>::to_vec);
    let labels: Vec<Option<u32>> = (0..fit.points.len())
        .map(|i| input.data.test.label(i))
        .collect();
    let errors = predicted.as_ref().map(|p| {
        p.iter()
            .zip(&labels)
            .filter(|(p, l)| l.is_some_and(|l| l != **p))
            .count()
    });
    ui.label(format!(
        "{} test samples; PC1 {:.0}% and PC2 {:.0}% of the variance{}",
        fit.points.len(),
        100.0 * e0,
        100.0 * e1,
        match errors {
            Some(e) => format!("; {e} errors (red crosses)"),
            None => "; predicting…".into(),
        }
    ));
    let classes = input.topology.output_names.len();
    let response = Plot::new("pca")
        .height(height)
        .data_aspect(1.0)
        .legend(Legend::default())
        .allow_scroll(false)
        .x_axis_label("PC1")
        .y_axis_label("PC2")
        .show(ui, |p| {
            let at = |i: usize| [f64::from(fit.points[i][0]), f64::from(fit.points[i][1])];
            for c in 0..classes {
                let pts: PlotPoints = (0..fit.points.len())
                    .filter(|&i| match &predicted {
                        Some(pred) => pred.get(i) == Some(&(c as u32)),
                        None => labels[i] == Some(c as u32),
                    })
                    .map(at)
                    .collect();
                let name = input
                    .topology
                    .output_names
                    .get(c)
                    .cloned()
                    .unwrap_or_default();
                p.points(Points::new(name, pts).radius(2.0).color(pca_colour(c)));
            }
            if let Some(pred) = &predicted {
                let wrong: PlotPoints = (0..fit.points.len())
                    .filter(|&i| labels[i].is_some_and(|l| Some(&l) != pred.get(i)))
                    .map(at)
                    .collect();
                p.points(
                    Points::new("errors", wrong)
                        .shape(MarkerShape::Cross)
                        .radius(4.0)
                        .color(egui::Color32::from_rgb(255, 40, 40)),
                );
            }
            if let Some(i) = probe.filter(|&i| i < fit.points.len()) {
                p.points(
                    Points::new("probe", vec![at(i)])
                        .shape(MarkerShape::Circle)
                        .filled(false)
                        .radius(7.0)
                        .color(egui::Color32::WHITE),
                );
            }
            p.pointer_coordinate()
        });
    if response.response.clicked()
        && let Some(at) = response.inner
    {
        view.last_click = Some([at.x, at.y]);
        return fit.nearest([at.x, at.y]);
    }
    None
}
