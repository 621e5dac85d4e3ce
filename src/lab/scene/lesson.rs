//! Lessons: a scene's script of captions, camera moves and highlights, each shown when its trigger fires.
//!
//! The script is plain data in the scene; [`LessonProgress`] is the engine that
//! decides, from what training reports, which step is due. It knows nothing of
//! windows, so tests drive it headless and the app only feeds it signals.

use serde::{Deserialize, Serialize};

use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::Metrics;
use crate::lab::scene::film::{Focus, Pose};

/// A lesson: steps shown one after the other as their triggers fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Lesson {
    /// The steps, in order.
    pub steps: Vec<LessonStep>,
}

/// One step of a lesson.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonStep {
    /// A short heading.
    #[serde(default)]
    pub title: String,
    /// The text: paragraphs separated by blank lines, `- ` bullets, `**bold**`.
    pub caption: String,
    /// When the step shows.
    #[serde(default)]
    pub trigger: Trigger,
    /// Pause training when the step shows, until the user presses Next.
    #[serde(default)]
    pub pause: bool,
    /// Where the camera goes.
    #[serde(default)]
    pub camera: Option<Pose>,
    /// What stands out while the step shows.
    #[serde(default)]
    pub highlight: Option<Highlight>,
}

/// What makes a lesson step show.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum Trigger {
    /// As soon as the previous step has shown (the first step: at once).
    Start,
    /// When training reaches this step (training pauses exactly there if the step pauses).
    Step(u64),
    /// When the first forward pass flows through the network (at once if it already has).
    FirstForward,
    /// When the first backward pass (the error) flows back.
    FirstBackward,
    /// When the mini-batch loss rises above this value (or is not a number).
    LossAbove(f32),
    /// When the mini-batch loss jumps to this many times its recent average.
    LossSpike(f32),
    /// When test accuracy reaches this value (0 to 1).
    AccuracyAbove(f32),
    /// When test accuracy falls below this value.
    AccuracyBelow(f32),
    /// When test loss exceeds train loss by more than this (overfitting).
    GapAbove(f32),
    /// When the sharpness reaches this fraction of the stability threshold
    /// (1.0: the edge of stability, λ_max = 2/η); needs `measure.sharpness_every`.
    SharpnessAbove(f32),
    /// When the user presses Next.
    #[default]
    Next,
}

/// Where training must stop for a lesson, so that it stops exactly there
/// rather than wherever it has run to when the view notices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PausePoint {
    /// When training reaches this step.
    Step(u64),
    /// Right after the first evaluation that meets this trigger (one that
    /// [`Trigger::met_by_evaluation`] decides).
    Evaluation(Trigger),
}

impl Trigger {
    /// Whether evaluation `m` meets this trigger; `None` for a trigger that
    /// does not watch evaluations.
    pub fn met_by_evaluation(&self, m: &Metrics) -> Option<bool> {
        Some(match *self {
            Trigger::AccuracyAbove(a) => m.test_accuracy.is_some_and(|acc| acc >= a),
            Trigger::AccuracyBelow(a) => m.test_accuracy.is_some_and(|acc| acc < a),
            Trigger::SharpnessAbove(f) => m.sharpness_ratio.is_some_and(|r| r >= f),
            Trigger::GapAbove(g) => match (m.train_loss, m.test_loss) {
                (Some(train), Some(test)) => test - train > g,
                _ => false,
            },
            _ => return None,
        })
    }

    /// A few words for the overlay: what the lesson waits for.
    pub fn describe(&self) -> String {
        match *self {
            Trigger::Start => "starts at once".into(),
            Trigger::Step(n) => format!("at step {n}"),
            Trigger::FirstForward => "at the first forward pass".into(),
            Trigger::FirstBackward => "at the first backward pass".into(),
            Trigger::LossAbove(v) => format!("when the loss rises above {v}"),
            Trigger::LossSpike(f) => format!("when the loss spikes to {f}x its average"),
            Trigger::AccuracyAbove(a) => format!("when test accuracy reaches {:.0}%", a * 100.0),
            Trigger::AccuracyBelow(a) => {
                format!("when test accuracy falls below {:.0}%", a * 100.0)
            }
            Trigger::GapAbove(g) => format!("when test loss exceeds train loss by {g}"),
            Trigger::SharpnessAbove(f) => {
                format!("when the sharpness reaches {:.0}% of 2/η", f * 100.0)
            }
            Trigger::Next => "when you press Next".into(),
        }
    }
}

/// Parts of the network a lesson step makes stand out (the rest dims).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Highlight {
    /// Every neuron of a layer (0 = inputs).
    Layer(usize),
    /// One neuron: (layer, index).
    Neuron(usize, usize),
    /// The synapses into a layer (from layer − 1).
    SynapsesInto(usize),
    /// The synapses into one neuron: (layer, index).
    SynapsesIntoNeuron(usize, usize),
}

impl Highlight {
    /// The neuron layer it names.
    pub fn layer(&self) -> usize {
        match *self {
            Highlight::Layer(l)
            | Highlight::Neuron(l, _)
            | Highlight::SynapsesInto(l)
            | Highlight::SynapsesIntoNeuron(l, _) => l,
        }
    }

    /// True when neuron `index` of `layer` is highlighted.
    pub fn has_neuron(&self, layer: usize, index: usize) -> bool {
        match *self {
            Highlight::Layer(l) => l == layer,
            Highlight::Neuron(l, i) => (l, i) == (layer, index),
            Highlight::SynapsesInto(_) => false,
            Highlight::SynapsesIntoNeuron(l, i) => (l, i) == (layer, index),
        }
    }

    /// True when the synapse of weight layer `weight_layer` into neuron `to` is highlighted.
    pub fn has_synapse(&self, weight_layer: usize, to: usize) -> bool {
        match *self {
            Highlight::SynapsesInto(l) => weight_layer + 1 == l,
            Highlight::SynapsesIntoNeuron(l, i) => weight_layer + 1 == l && to == i,
            Highlight::Layer(_) | Highlight::Neuron(..) => false,
        }
    }
}

impl Lesson {
    /// True when the scene has no lesson.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Checks the steps for a network of `layers` neuron layers, naming the offending field.
    pub fn validate(&self, layers: usize) -> LabResult<()> {
        let last = layers.saturating_sub(1);
        for (i, step) in self.steps.iter().enumerate() {
            let field = format!("lesson.steps[{i}]");
            if step.caption.trim().is_empty() {
                return Err(LabError::setting(format!("{field}.caption"), "is empty"));
            }
            if let Some(h) = step.highlight {
                let synapses = matches!(
                    h,
                    Highlight::SynapsesInto(_) | Highlight::SynapsesIntoNeuron(..)
                );
                if h.layer() > last || (synapses && h.layer() == 0) {
                    return Err(LabError::setting(
                        format!("{field}.highlight"),
                        format!(
                            "layer {} does not exist{}: the network has layers 0 (inputs) to {last}",
                            h.layer(),
                            if synapses {
                                " or has no synapses into it"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            }
            if let Some(pose) = &step.camera
                && let Focus::Layer(l) | Focus::Neuron(l, _) = pose.focus
                && l > last
            {
                return Err(LabError::setting(
                    format!("{field}.camera.focus"),
                    format!(
                        "layer {l} does not exist: the network has layers 0 (inputs) to {last}"
                    ),
                ));
            }
            let bad = match step.trigger {
                Trigger::LossAbove(v) | Trigger::GapAbove(v) => !v.is_finite(),
                Trigger::LossSpike(f) => !(f.is_finite() && f > 1.0),
                Trigger::SharpnessAbove(f) => !(f.is_finite() && f > 0.0),
                Trigger::AccuracyAbove(a) | Trigger::AccuracyBelow(a) => !(0.0..=1.0).contains(&a),
                _ => false,
            };
            if bad {
                return Err(LabError::setting(
                    format!("{field}.trigger"),
                    "thresholds must be finite; accuracies between 0 and 1; a spike factor above 1; a sharpness fraction above 0",
                ));
            }
        }
        Ok(())
    }
}

/// What training reports to a lesson.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// A frame: the state at `step` and the loss of its mini-batch.
    Frame {
        /// Training step.
        step: u64,
        /// Mini-batch loss.
        batch_loss: f32,
    },
    /// A full evaluation, at its step.
    Evaluation(Metrics),
    /// A forward pass started flowing through the view.
    Forward,
    /// A backward pass started flowing back.
    Backward,
    /// The user pressed Next.
    Next,
}

/// What the lesson asks of the app.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LessonEvent {
    /// Step `index` shows now, at training step `at_step`; pause training if `pause`.
    Show {
        /// Index of the lesson step.
        index: usize,
        /// The training step when it fired.
        at_step: Option<u64>,
        /// Training should pause.
        pause: bool,
    },
    /// The user continued: training may run again.
    Continue,
}

/// Where a class is in a lesson.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LessonProgress {
    /// Steps shown so far (the next due is `steps[reached]`).
    pub reached: usize,
    /// The step on screen (the user may have gone back).
    pub viewing: Option<usize>,
    /// True while training is paused for the class.
    pub waiting: bool,
    /// The training step at which each shown step fired.
    pub fired_at: Vec<Option<u64>>,
    step: Option<u64>,
    loss_average: Option<f32>,
    losses_seen: u32,
    forward_seen: bool,
    backward_seen: bool,
}

/// Smoothing of the loss average that spikes are measured against.
const SPIKE_SMOOTHING: f32 = 0.1;
/// Frames seen before a spike can count (the first losses swing widely).
const SPIKE_WARMUP: u32 = 5;

impl LessonProgress {
    /// Where the next pausing step will stop training, so that training can
    /// stop exactly there: a pausing `Step(n)`, looking past steps that do
    /// not pause (the trainer runs ahead of the view), or a pausing trigger on
    /// evaluations when it is the very next step.
    pub fn pause_due(&self, lesson: &Lesson) -> Option<PausePoint> {
        if self.waiting {
            return None;
        }
        for (i, step) in lesson.steps.iter().enumerate().skip(self.reached) {
            match (step.trigger, step.pause) {
                (Trigger::Step(n), true) => return Some(PausePoint::Step(n)),
                // Only when nothing before it must fire first.
                (t, true)
                    if i == self.reached && t.met_by_evaluation(&Metrics::at(0)).is_some() =>
                {
                    return Some(PausePoint::Evaluation(t));
                }
                // Another pause comes first, at a moment no one can predict.
                (_, true) => return None,
                _ => {}
            }
        }
        None
    }

    /// Goes back one step (only what is shown; training is not rewound).
    pub fn back(&mut self) {
        if let Some(v) = self.viewing {
            self.viewing = Some(v.saturating_sub(1));
        }
    }

    fn matches(&self, trigger: Trigger, signal: &Signal) -> bool {
        match (trigger, *signal) {
            (Trigger::Start, _) => !matches!(signal, Signal::Next),
            (Trigger::Step(n), _) => self.step.is_some_and(|s| s >= n),
            // Passes already seen count: "first" is past once it has happened.
            (Trigger::FirstForward, _) => self.forward_seen,
            (Trigger::FirstBackward, _) => self.backward_seen,
            (Trigger::LossAbove(v), Signal::Frame { batch_loss, .. }) => {
                batch_loss.is_nan() || batch_loss > v
            }
            (Trigger::LossSpike(f), Signal::Frame { batch_loss, .. }) => {
                self.losses_seen >= SPIKE_WARMUP
                    && self
                        .loss_average
                        .is_some_and(|avg| batch_loss.is_nan() || batch_loss > f * avg)
            }
            (t, Signal::Evaluation(m)) => t.met_by_evaluation(&m).unwrap_or(false),
            _ => false,
        }
    }

    fn show(&mut self, lesson: &Lesson, events: &mut Vec<LessonEvent>) {
        let index = self.reached;
        let pause = lesson.steps[index].pause;
        self.reached += 1;
        self.viewing = Some(index);
        self.fired_at.push(self.step);
        self.waiting = pause;
        events.push(LessonEvent::Show {
            index,
            at_step: self.step,
            pause,
        });
    }

    /// Takes one signal; returns what the app should do.
    pub fn observe(&mut self, lesson: &Lesson, signal: Signal) -> Vec<LessonEvent> {
        let mut events = Vec::new();
        match signal {
            Signal::Frame { step, .. } | Signal::Evaluation(Metrics { step, .. }) => {
                self.step = Some(self.step.map_or(step, |s| s.max(step)));
            }
            Signal::Forward => self.forward_seen = true,
            Signal::Backward => self.backward_seen = true,
            Signal::Next => {
                // Catch up first if the user had gone back.
                if let Some(v) = self.viewing
                    && v + 1 < self.reached
                {
                    self.viewing = Some(v + 1);
                    return events;
                }
                let was_waiting = self.waiting;
                self.waiting = false;
                let next_is_manual = lesson
                    .steps
                    .get(self.reached)
                    .is_some_and(|s| s.trigger == Trigger::Next);
                // Next continues a pause; otherwise it skips ahead to the next step.
                if self.reached < lesson.steps.len() && (!was_waiting || next_is_manual) {
                    self.show(lesson, &mut events);
                }
                if was_waiting && !self.waiting {
                    events.push(LessonEvent::Continue);
                }
                return events;
            }
        }
        if !self.waiting {
            while let Some(next) = lesson.steps.get(self.reached) {
                if !self.matches(next.trigger, &signal) {
                    break;
                }
                self.show(lesson, &mut events);
                if self.waiting {
                    break;
                }
            }
        }
        if let Signal::Frame { batch_loss, .. } = signal
            && batch_loss.is_finite()
        {
            self.losses_seen += 1;
            self.loss_average = Some(
                self.loss_average
                    .map_or(batch_loss, |a| a + SPIKE_SMOOTHING * (batch_loss - a)),
            );
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(trigger: Trigger, pause: bool) -> LessonStep {
        LessonStep {
            title: String::new(),
            caption: format!("{trigger:?}"),
            trigger,
            pause,
            camera: None,
            highlight: None,
        }
    }

    fn frame(step: u64, batch_loss: f32) -> Signal {
        Signal::Frame { step, batch_loss }
    }

    fn eval(step: u64, train_loss: f32, test_loss: f32, acc: f32) -> Signal {
        Signal::Evaluation(Metrics {
            train_loss: Some(train_loss),
            test_loss: Some(test_loss),
            test_accuracy: Some(acc),
            ..Metrics::at(step)
        })
    }

    fn shown(events: &[LessonEvent]) -> Vec<(usize, Option<u64>, bool)> {
        events
            .iter()
            .filter_map(|e| match *e {
                LessonEvent::Show {
                    index,
                    at_step,
                    pause,
                } => Some((index, at_step, pause)),
                LessonEvent::Continue => None,
            })
            .collect()
    }

    #[test]
    fn every_trigger_fires_in_order_and_pauses_wait_for_next() {
        let lesson = Lesson {
            steps: vec![
                step(Trigger::Start, false),
                step(Trigger::FirstForward, false),
                step(Trigger::FirstBackward, false),
                step(Trigger::Step(10), true),
                step(Trigger::LossSpike(3.0), false),
                step(Trigger::LossAbove(50.0), false),
                step(Trigger::AccuracyAbove(0.9), true),
                step(Trigger::GapAbove(0.2), false),
                step(Trigger::AccuracyBelow(0.5), false),
                step(Trigger::Next, false),
            ],
        };
        let mut p = LessonProgress::default();
        assert_eq!(
            shown(&p.observe(&lesson, frame(0, 1.0))),
            vec![(0, Some(0), false)]
        );
        assert_eq!(
            shown(&p.observe(&lesson, Signal::Forward)),
            vec![(1, Some(0), false)]
        );
        assert_eq!(
            shown(&p.observe(&lesson, Signal::Backward)),
            vec![(2, Some(0), false)]
        );
        assert_eq!(
            p.pause_due(&lesson),
            Some(PausePoint::Step(10)),
            "training is told where to stop"
        );
        for s in 1..10 {
            assert!(p.observe(&lesson, frame(s, 1.0)).is_empty(), "step {s}");
        }
        assert_eq!(
            shown(&p.observe(&lesson, frame(10, 1.0))),
            vec![(3, Some(10), true)]
        );
        assert!(p.waiting);
        // While paused, nothing else fires, however the loss moves.
        assert!(p.observe(&lesson, frame(11, 100.0)).is_empty());
        assert_eq!(
            p.observe(&lesson, Signal::Next),
            vec![LessonEvent::Continue],
            "Next continues training"
        );
        // A spike is measured against the recent average (about 1 here).
        assert!(p.observe(&lesson, frame(12, 2.5)).is_empty());
        // The average now includes the 100 seen while paused (about 10): 40 is a spike, not above 50.
        assert_eq!(
            shown(&p.observe(&lesson, frame(13, 40.0))),
            vec![(4, Some(13), false)]
        );
        assert_eq!(
            shown(&p.observe(&lesson, frame(14, f32::NAN))),
            vec![(5, Some(14), false)]
        );
        assert!(p.observe(&lesson, eval(20, 0.5, 0.6, 0.85)).is_empty());
        assert_eq!(
            shown(&p.observe(&lesson, eval(30, 0.3, 0.4, 0.91))),
            vec![(6, Some(30), true)]
        );
        assert_eq!(
            p.observe(&lesson, Signal::Next),
            vec![LessonEvent::Continue]
        );
        assert!(p.observe(&lesson, eval(40, 0.1, 0.25, 0.9)).is_empty());
        assert_eq!(
            shown(&p.observe(&lesson, eval(50, 0.05, 0.3, 0.45))),
            vec![(7, Some(50), false), (8, Some(50), false)],
            "one evaluation can fire several steps"
        );
        // Back shows the previous step; Next returns before advancing.
        p.back();
        assert_eq!(p.viewing, Some(7));
        assert!(p.observe(&lesson, Signal::Next).is_empty());
        assert_eq!(p.viewing, Some(8));
        assert_eq!(
            shown(&p.observe(&lesson, Signal::Next)),
            vec![(9, Some(50), false)]
        );
        assert_eq!(p.reached, 10);
        assert!(
            p.observe(&lesson, Signal::Next).is_empty(),
            "the lesson is over"
        );
    }

    #[test]
    fn a_bad_highlight_or_threshold_names_its_field() {
        let mut lesson = Lesson {
            steps: vec![step(Trigger::Start, false)],
        };
        lesson.steps[0].highlight = Some(Highlight::SynapsesInto(3));
        let err = lesson.validate(3).unwrap_err().to_string();
        assert!(err.contains("lesson.steps[0].highlight"), "{err}");
        lesson.steps[0].highlight = Some(Highlight::SynapsesInto(2));
        assert!(lesson.validate(3).is_ok());
        lesson.steps[0].trigger = Trigger::AccuracyAbove(90.0);
        let err = lesson.validate(3).unwrap_err().to_string();
        assert!(err.contains("lesson.steps[0].trigger"), "{err}");
    }

    #[test]
    fn the_sharpness_trigger_fires_when_the_ratio_reaches_its_fraction() {
        let lesson = Lesson {
            steps: vec![step(Trigger::SharpnessAbove(0.95), true)],
        };
        let at = |step: u64, ratio: Option<f32>| {
            Signal::Evaluation(Metrics {
                sharpness_ratio: ratio,
                ..Metrics::at(step)
            })
        };
        let mut p = LessonProgress::default();
        assert!(p.observe(&lesson, at(10, None)).is_empty());
        assert!(p.observe(&lesson, at(20, Some(0.5))).is_empty());
        assert!(p.observe(&lesson, at(30, Some(0.94))).is_empty());
        assert_eq!(
            shown(&p.observe(&lesson, at(40, Some(0.96)))),
            vec![(0, Some(40), true)]
        );
    }

    #[test]
    fn a_pause_on_an_evaluation_is_left_to_the_trainer_only_when_it_is_next() {
        let lesson = |steps| Lesson { steps };
        let p = LessonProgress::default();
        let accuracy = Trigger::AccuracyAbove(0.9);
        assert_eq!(
            p.pause_due(&lesson(vec![step(accuracy, true)])),
            Some(PausePoint::Evaluation(accuracy))
        );
        // Something else must fire first: the trainer cannot know when.
        assert_eq!(
            p.pause_due(&lesson(vec![
                step(Trigger::GapAbove(0.1), false),
                step(accuracy, true)
            ])),
            None
        );
        // Triggers on frames are not the trainer's to decide.
        assert_eq!(
            p.pause_due(&lesson(vec![step(Trigger::LossAbove(2.0), true)])),
            None
        );
        let m = Metrics {
            test_accuracy: Some(0.95),
            ..Metrics::at(30)
        };
        assert_eq!(accuracy.met_by_evaluation(&m), Some(true));
        assert_eq!(
            Trigger::AccuracyBelow(0.9).met_by_evaluation(&m),
            Some(false)
        );
        assert_eq!(Trigger::Step(3).met_by_evaluation(&m), None);
    }
}
