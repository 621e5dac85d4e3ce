//! Films: camera paths and overlays for exhibition captures, as plain data in the scene.
//!
//! A camera path is a function of film time; keys may be given in seconds or
//! at a training step ("dive into layer 2 at step 500"), converted with the
//! film's pace (steps per frame and frames per second).

use serde::{Deserialize, Serialize};

use crate::lab::error::{LabError, LabResult};

/// A moment of a film: in seconds, or when training reaches a step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum TimeMark {
    /// Seconds of film.
    Second(f32),
    /// The training step.
    Step(u64),
}

impl TimeMark {
    /// Seconds of film at which this mark falls, for a film showing
    /// `steps_per_second` training steps per second.
    pub fn seconds(self, steps_per_second: f32) -> f32 {
        match self {
            TimeMark::Second(s) => s,
            TimeMark::Step(n) => n as f32 / steps_per_second.max(1e-6),
        }
    }
}

/// What the camera looks at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum Focus {
    /// The centre of the whole network.
    #[default]
    Network,
    /// The centre of a layer of neurons (0 = inputs).
    Layer(usize),
    /// One neuron: (layer, index).
    Neuron(usize, usize),
    /// A point in the scene.
    Point(f32, f32, f32),
    /// The surface of a 2D regression's output, beside the network (the
    /// whole network when there is none).
    Surface,
}

/// A camera pose around a focus: yaw and pitch in degrees, and a distance
/// (`None`: far enough to frame the focus).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pose {
    /// What the camera looks at.
    pub focus: Focus,
    /// Turn around the vertical axis, degrees (0 looks along -z).
    pub yaw: f32,
    /// Height above the horizon, degrees.
    pub pitch: f32,
    /// Distance to the focus; `None` frames it.
    pub distance: Option<f32>,
}

impl Default for Pose {
    fn default() -> Self {
        Pose {
            focus: Focus::Network,
            yaw: -50.0,
            pitch: 17.0,
            distance: None,
        }
    }
}

/// How a move between two keys speeds up and slows down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Ease {
    /// Constant speed.
    Linear,
    /// Slow in, slow out.
    #[default]
    InOut,
    /// Slow in.
    In,
    /// Slow out.
    Out,
}

impl Ease {
    /// Maps 0..1 to 0..1.
    pub fn apply(self, t: f32) -> f32 {
        let t = t.clamp(0.0, 1.0);
        match self {
            Ease::Linear => t,
            Ease::InOut => t * t * (3.0 - 2.0 * t),
            Ease::In => t * t,
            Ease::Out => 1.0 - (1.0 - t) * (1.0 - t),
        }
    }
}

/// One key of a keyframed path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraKey {
    /// When the camera reaches this pose.
    pub at: TimeMark,
    /// The pose.
    pub pose: Pose,
    /// How the move into this key eases.
    #[serde(default)]
    pub ease: Ease,
}

/// How the camera moves through a film.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CameraPath {
    /// One pose throughout.
    Still(Pose),
    /// Circle the focus: start from `pose` and turn at `degrees_per_second`.
    Orbit {
        /// Where the orbit starts (focus, height, distance).
        pose: Pose,
        /// Turning speed; negative turns the other way.
        degrees_per_second: f32,
    },
    /// Move between poses, with an optional slow turn on top ("orbit slowly,
    /// dive into layer 2 at step 500").
    Keys {
        /// The keys, in time order.
        keys: Vec<CameraKey>,
        /// Extra turn added to every pose, degrees per second.
        #[serde(default)]
        spin: f32,
    },
}

impl CameraPath {
    /// The pose at `seconds` of film, for a film showing `steps_per_second`.
    /// Focus changes between keys happen halfway (points are blended by the app).
    pub fn pose_at(&self, seconds: f32, steps_per_second: f32) -> PoseBlend {
        match self {
            CameraPath::Still(p) => PoseBlend::at(*p),
            CameraPath::Orbit {
                pose,
                degrees_per_second,
            } => PoseBlend::at(Pose {
                yaw: pose.yaw + degrees_per_second * seconds,
                ..*pose
            }),
            CameraPath::Keys { keys, spin } => {
                let spun = |p: Pose| Pose {
                    yaw: p.yaw + spin * seconds,
                    ..p
                };
                let Some(first) = keys.first() else {
                    return PoseBlend::at(spun(Pose::default()));
                };
                let times: Vec<f32> = keys
                    .iter()
                    .map(|k| k.at.seconds(steps_per_second))
                    .collect();
                if seconds <= times[0] {
                    return PoseBlend::at(spun(first.pose));
                }
                for (i, w) in keys.windows(2).enumerate() {
                    let (t0, t1) = (times[i], times[i + 1]);
                    if seconds <= t1 {
                        let t = if t1 > t0 {
                            (seconds - t0) / (t1 - t0)
                        } else {
                            1.0
                        };
                        return PoseBlend {
                            from: spun(w[0].pose),
                            to: spun(w[1].pose),
                            t: w[1].ease.apply(t),
                        };
                    }
                }
                PoseBlend::at(spun(keys[keys.len() - 1].pose))
            }
        }
    }

    /// Checks the path for a network of `layers` neuron layers (inputs and
    /// outputs included), naming the offending field.
    pub fn validate(&self, layers: usize) -> LabResult<()> {
        let poses: Vec<(String, &Pose)> = match self {
            CameraPath::Still(p) => vec![("view.camera".into(), p)],
            CameraPath::Orbit { pose, .. } => vec![("view.camera.pose".into(), pose)],
            CameraPath::Keys { keys, .. } => keys
                .iter()
                .enumerate()
                .map(|(i, k)| (format!("view.camera.keys[{i}].pose"), &k.pose))
                .collect(),
        };
        for (field, pose) in poses {
            if let Focus::Layer(l) | Focus::Neuron(l, _) = pose.focus
                && l >= layers
            {
                return Err(LabError::setting(
                    format!("{field}.focus"),
                    format!(
                        "layer {l} does not exist: the network has layers 0 (inputs) to {}",
                        layers - 1
                    ),
                ));
            }
            if !(pose.yaw.is_finite() && pose.pitch.is_finite() && pose.pitch.abs() < 90.0) {
                return Err(LabError::setting(
                    field,
                    "yaw must be finite and pitch between -90 and 90 degrees",
                ));
            }
            if pose.distance.is_some_and(|d| !(d.is_finite() && d > 0.0)) {
                return Err(LabError::setting(
                    format!("{field}.distance"),
                    "must be a positive number",
                ));
            }
        }
        if let CameraPath::Keys { keys, .. } = self {
            if keys.is_empty() {
                return Err(LabError::setting(
                    "view.camera.keys",
                    "needs at least one key",
                ));
            }
            // Keys in steps and in seconds cannot be ordered without the film's
            // pace, so only keys of the same kind are compared.
            for w in keys.windows(2) {
                let ordered = match (w[0].at, w[1].at) {
                    (TimeMark::Second(a), TimeMark::Second(b)) => a <= b,
                    (TimeMark::Step(a), TimeMark::Step(b)) => a <= b,
                    _ => true,
                };
                if !ordered {
                    return Err(LabError::setting(
                        "view.camera.keys",
                        "keys must be in time order",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A pose between two poses: `from` blended towards `to` by `t` (0..1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseBlend {
    /// Where the move starts.
    pub from: Pose,
    /// Where it ends.
    pub to: Pose,
    /// How far along, eased.
    pub t: f32,
}

impl PoseBlend {
    fn at(p: Pose) -> Self {
        PoseBlend {
            from: p,
            to: p,
            t: 0.0,
        }
    }
}

/// A caption shown during part of a film.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caption {
    /// When it appears.
    pub from: TimeMark,
    /// When it goes.
    pub to: TimeMark,
    /// What it says.
    pub text: String,
}

/// The film a capture makes of a scene: pace, length and overlays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilmSpec {
    /// Frames per second.
    pub fps: f32,
    /// Length in seconds.
    pub seconds: f32,
    /// Training steps between two frames.
    pub steps_per_frame: u32,
    /// Show the title card (scene title and description) at the start.
    pub title: bool,
    /// Seconds the title card stays.
    pub title_seconds: f32,
    /// Captions.
    pub captions: Vec<Caption>,
    /// Show the strip with step, loss and accuracy.
    pub metrics: bool,
}

impl Default for FilmSpec {
    fn default() -> Self {
        FilmSpec {
            fps: 30.0,
            seconds: 10.0,
            steps_per_frame: 1,
            title: true,
            title_seconds: 3.0,
            captions: Vec::new(),
            metrics: true,
        }
    }
}

impl FilmSpec {
    /// Training steps per second of film.
    pub fn steps_per_second(&self) -> f32 {
        self.fps * self.steps_per_frame as f32
    }

    /// The captions showing at `seconds`.
    pub fn captions_at(&self, seconds: f32) -> impl Iterator<Item = &Caption> {
        let sps = self.steps_per_second();
        self.captions
            .iter()
            .filter(move |c| c.from.seconds(sps) <= seconds && seconds < c.to.seconds(sps))
    }

    /// Checks the settings, naming the offending field.
    pub fn validate(&self) -> LabResult<()> {
        if !(self.fps.is_finite() && self.fps > 0.0 && self.fps <= 240.0) {
            return Err(LabError::setting(
                "view.film.fps",
                "must be between 0 and 240",
            ));
        }
        if !(self.seconds.is_finite() && self.seconds > 0.0) {
            return Err(LabError::setting("view.film.seconds", "must be positive"));
        }
        if self.steps_per_frame == 0 {
            return Err(LabError::setting(
                "view.film.steps_per_frame",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_orbit_turns_at_its_speed() {
        let path = CameraPath::Orbit {
            pose: Pose::default(),
            degrees_per_second: 10.0,
        };
        let p = path.pose_at(3.0, 30.0);
        assert_eq!(p.from.yaw, Pose::default().yaw + 30.0);
    }

    #[test]
    fn keys_blend_in_film_time_and_steps_convert_with_the_pace() {
        let dive = Pose {
            focus: Focus::Layer(2),
            distance: Some(4.0),
            ..Pose::default()
        };
        let path = CameraPath::Keys {
            keys: vec![
                CameraKey {
                    at: TimeMark::Second(0.0),
                    pose: Pose::default(),
                    ease: Ease::Linear,
                },
                CameraKey {
                    at: TimeMark::Step(500),
                    pose: dive,
                    ease: Ease::Linear,
                },
            ],
            spin: 0.0,
        };
        // 500 steps at 100 steps per second is 5 seconds in.
        let half = path.pose_at(2.5, 100.0);
        assert_eq!((half.from, half.to), (Pose::default(), dive));
        assert!((half.t - 0.5).abs() < 1e-6);
        let after = path.pose_at(9.0, 100.0);
        assert_eq!(after.from, dive);
    }

    #[test]
    fn captions_show_in_their_window() {
        let film = FilmSpec {
            captions: vec![Caption {
                from: TimeMark::Second(1.0),
                to: TimeMark::Step(90),
                text: "hello".into(),
            }],
            ..Default::default()
        };
        // 90 steps at 30 per second: until 3 s.
        assert_eq!(film.captions_at(0.5).count(), 0);
        assert_eq!(film.captions_at(2.9).count(), 1);
        assert_eq!(film.captions_at(3.1).count(), 0);
    }

    #[test]
    fn a_path_into_a_missing_layer_is_refused_by_name() {
        let key = |at, focus| CameraKey {
            at,
            pose: Pose {
                focus,
                ..Pose::default()
            },
            ease: Ease::InOut,
        };
        let path = CameraPath::Keys {
            keys: vec![
                key(TimeMark::Second(0.0), Focus::Network),
                key(TimeMark::Second(2.0), Focus::Layer(3)),
            ],
            spin: 0.0,
        };
        assert!(path.validate(4).is_ok());
        let err = path.validate(3).unwrap_err().to_string();
        assert!(err.contains("view.camera.keys[1].pose.focus"), "{err}");
        assert!(err.contains("0 (inputs) to 2"), "{err}");
        let backwards = CameraPath::Keys {
            keys: vec![
                key(TimeMark::Second(2.0), Focus::Network),
                key(TimeMark::Second(1.0), Focus::Network),
            ],
            spin: 0.0,
        };
        let err = backwards.validate(3).unwrap_err().to_string();
        assert!(err.contains("time order"), "{err}");
    }

    #[test]
    fn eases_start_and_end_in_place() {
        for e in [Ease::Linear, Ease::InOut, Ease::In, Ease::Out] {
            assert_eq!(e.apply(0.0), 0.0);
            assert_eq!(e.apply(1.0), 1.0);
        }
    }
}
