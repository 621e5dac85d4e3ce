//! A scene as a link: a preset's name and the edits made to it, in a URL's query (`?scene=lesson-2-xor&seed=3&lr=0.1`).
//!
//! The web build opens the scene a link names and keeps the link up to date
//! as the student edits, so that the link reproduces what they saw
//! (TensorFlow Playground's habit).

use crate::lab::model::Activation;
use crate::lab::scene::{OptimizerKind, Scene};
use crate::lab::{LabError, LabResult};

/// The preset a link opens when it names none.
pub const DEFAULT_SCENE: &str = "default";

/// What a link asks for: a preset, the edits made to it, and where to watch
/// a served run instead of training in the page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SceneLink {
    /// The preset's name (`scene`).
    pub scene: Option<String>,
    /// The seed (`seed`).
    pub seed: Option<u64>,
    /// The learning rate (`lr`).
    pub learning_rate: Option<f32>,
    /// The mini-batch size (`batch`).
    pub batch_size: Option<usize>,
    /// The optimiser (`optimizer`: gd, sgd, momentum, adam).
    pub optimizer: Option<OptimizerKind>,
    /// The hidden layers' activations (`activation`: `relu` for every
    /// layer, or one per layer, `relu-tanh`).
    pub activations: Option<Vec<Activation>>,
    /// The hidden layers' widths (`layers`: `8-8`, or empty for none).
    pub hidden: Option<Vec<usize>>,
    /// The hidden layers' dropout rate (`dropout`).
    pub dropout: Option<f32>,
    /// Training steps a second (`speed`: a rate, or `max`).
    pub steps_per_second: Option<StepsPerSecond>,
    /// A served run's stream to watch (`connect`: `ws://HOST:PORT/stream`).
    pub connect: Option<String>,
}

/// A pace asked for by a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepsPerSecond {
    /// This many steps a second.
    Rate(f32),
    /// As fast as the page allows.
    Max,
}

impl SceneLink {
    /// Reads a URL's query (with or without its leading `?`); an unknown key
    /// or a bad value is an error that names it.
    pub fn parse(query: &str) -> LabResult<SceneLink> {
        let mut link = SceneLink::default();
        let query = query.strip_prefix('?').unwrap_or(query);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key).map_err(|why| bad(key, why))?;
            let value = decode(raw).map_err(|why| bad(&key, why))?;
            link.set(&key, &value)?;
        }
        Ok(link)
    }

    fn set(&mut self, key: &str, value: &str) -> LabResult<()> {
        let number = |what: &str| format!("must be {what}, got {value:?}");
        match key {
            "scene" => {
                if value.is_empty() {
                    return Err(bad(key, "names no scene".into()));
                }
                self.scene = Some(value.to_string());
            }
            "seed" => {
                self.seed = Some(
                    value
                        .parse()
                        .map_err(|_| bad(key, number("a whole number")))?,
                )
            }
            "lr" => {
                let lr: f32 = value.parse().map_err(|_| bad(key, number("a number")))?;
                if !(lr.is_finite() && lr > 0.0) {
                    return Err(bad(key, number("a positive number")));
                }
                self.learning_rate = Some(lr);
            }
            "batch" => {
                let b: usize = value
                    .parse()
                    .map_err(|_| bad(key, number("a whole number")))?;
                if b == 0 {
                    return Err(bad(key, number("at least 1")));
                }
                self.batch_size = Some(b);
            }
            "optimizer" => {
                let found = OptimizerKind::ALL.into_iter().find(|o| named(o, value));
                self.optimizer = Some(found.ok_or_else(|| {
                    bad(key, one_of(value, OptimizerKind::ALL.iter().map(name_of)))
                })?);
            }
            "activation" => {
                let found: Option<Vec<Activation>> = value
                    .split(['-', ','])
                    .map(|v| Activation::ALL.into_iter().find(|a| named(a, v)))
                    .collect();
                self.activations =
                    Some(found.filter(|f| !f.is_empty()).ok_or_else(|| {
                        bad(key, one_of(value, Activation::ALL.iter().map(name_of)))
                    })?);
            }
            "layers" => {
                let widths: Result<Vec<usize>, _> = value
                    .split(['-', ','])
                    .filter(|w| !w.is_empty())
                    .map(str::parse::<usize>)
                    .collect();
                let widths =
                    widths.map_err(|_| bad(key, number("widths joined by '-', like 8-8")))?;
                if widths.contains(&0) {
                    return Err(bad(key, "a layer needs at least one neuron".into()));
                }
                self.hidden = Some(widths);
            }
            "dropout" => {
                let p: f32 = value.parse().map_err(|_| bad(key, number("a number")))?;
                if !(p.is_finite() && (0.0..1.0).contains(&p)) {
                    return Err(bad(key, number("at least 0 and under 1")));
                }
                self.dropout = Some(p);
            }
            "speed" => {
                self.steps_per_second = Some(if value == "max" {
                    StepsPerSecond::Max
                } else {
                    let rate: f32 = value
                        .parse()
                        .map_err(|_| bad(key, number("steps a second, or max")))?;
                    if !(rate.is_finite() && rate > 0.0) {
                        return Err(bad(key, number("a positive rate, or max")));
                    }
                    StepsPerSecond::Rate(rate)
                });
            }
            "connect" => {
                if !(value.starts_with("ws://") || value.starts_with("wss://")) {
                    return Err(bad(key, number("a ws:// or wss:// address")));
                }
                self.connect = Some(value.to_string());
            }
            _ => {
                return Err(bad(
                    key,
                    "is not a link setting (scene, seed, lr, batch, optimizer, activation, layers, dropout, speed, connect)".into(),
                ));
            }
        }
        Ok(())
    }

    /// The preset to open.
    pub fn scene_name(&self) -> &str {
        self.scene.as_deref().unwrap_or(DEFAULT_SCENE)
    }

    /// Applies the link's edits to its preset's scene.
    pub fn apply(&self, scene: &mut Scene) {
        if let Some(seed) = self.seed {
            scene.seed = seed;
        }
        if let Some(lr) = self.learning_rate {
            scene.train.learning_rate = lr;
            scene.train.learning_rates = None;
        }
        if let Some(b) = self.batch_size {
            scene.train.batch_size = b;
        }
        if let Some(o) = self.optimizer {
            scene.train.optimizer = o;
        }
        if self.hidden.is_some() || self.activations.is_some() {
            // As the app's layer editor does, so that the initialisation
            // follows the activations the same way.
            let hidden = self
                .hidden
                .clone()
                .unwrap_or_else(|| scene.model.hidden.clone());
            let activations = match &self.activations {
                Some(a) if a.len() == 1 => vec![a[0]; hidden.len()],
                Some(a) => a.clone(),
                None => scene.model.hidden_activations(),
            };
            scene.model.set_layers(hidden, activations);
        }
        if let Some(p) = self.dropout {
            scene.model.dropout = p;
        }
        match self.steps_per_second {
            Some(StepsPerSecond::Rate(r)) => scene.view.steps_per_second = Some(r),
            Some(StepsPerSecond::Max) => scene.view.steps_per_second = None,
            None => {}
        }
    }

    /// The link to `now`, a scene opened from the preset `name` (whose
    /// scene is `base`) and edited: only what differs from the preset.
    pub fn between(name: &str, base: &Scene, now: &Scene) -> SceneLink {
        let (b, n) = (&base.train, &now.train);
        let activations = now.model.hidden_activations();
        let uniform = activations.iter().all(|a| *a == activations[0]);
        SceneLink {
            scene: (name != DEFAULT_SCENE).then(|| name.to_string()),
            seed: (base.seed != now.seed).then_some(now.seed),
            learning_rate: (b.learning_rate != n.learning_rate
                || b.learning_rates != n.learning_rates)
                .then_some(n.learning_rate),
            batch_size: (b.batch_size != n.batch_size).then_some(n.batch_size),
            optimizer: (b.optimizer != n.optimizer).then_some(n.optimizer),
            // Without hidden layers, there is no activation to carry.
            activations: (!activations.is_empty()
                && base.model.hidden_activations() != activations)
                .then(|| match uniform {
                    true => activations.iter().take(1).copied().collect(),
                    false => activations.clone(),
                }),
            hidden: (base.model.hidden != now.model.hidden).then(|| now.model.hidden.clone()),
            dropout: (base.model.dropout != now.model.dropout).then_some(now.model.dropout),
            steps_per_second: (base.view.steps_per_second != now.view.steps_per_second).then_some(
                match now.view.steps_per_second {
                    Some(r) => StepsPerSecond::Rate(r),
                    None => StepsPerSecond::Max,
                },
            ),
            connect: None,
        }
    }

    /// The link as a URL query, with its leading `?` (empty when it asks for
    /// nothing), keys in a fixed order.
    pub fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(s) = &self.scene {
            pairs.push(("scene", encode(s)));
        }
        if let Some(s) = self.seed {
            pairs.push(("seed", s.to_string()));
        }
        if let Some(lr) = self.learning_rate {
            pairs.push(("lr", lr.to_string()));
        }
        if let Some(b) = self.batch_size {
            pairs.push(("batch", b.to_string()));
        }
        if let Some(o) = &self.optimizer {
            pairs.push(("optimizer", name_of(o)));
        }
        if let Some(a) = &self.activations {
            let names: Vec<String> = a.iter().map(name_of).collect();
            pairs.push(("activation", names.join("-")));
        }
        if let Some(h) = &self.hidden {
            let widths: Vec<String> = h.iter().map(usize::to_string).collect();
            pairs.push(("layers", widths.join("-")));
        }
        if let Some(p) = self.dropout {
            pairs.push(("dropout", p.to_string()));
        }
        match self.steps_per_second {
            Some(StepsPerSecond::Rate(r)) => pairs.push(("speed", r.to_string())),
            Some(StepsPerSecond::Max) => pairs.push(("speed", "max".into())),
            None => {}
        }
        if let Some(c) = &self.connect {
            pairs.push(("connect", encode(c)));
        }
        if pairs.is_empty() {
            return String::new();
        }
        let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("?{}", joined.join("&"))
    }
}

/// An error about the link's `key`.
fn bad(key: &str, message: String) -> LabError {
    LabError::setting(format!("?{key}"), message)
}

/// The lower-case name of an enum value, as a link writes it.
fn name_of<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}").to_lowercase()
}

fn named<T: std::fmt::Debug>(value: &T, name: &str) -> bool {
    name_of(value) == name.to_lowercase()
}

fn one_of(value: &str, names: impl Iterator<Item = String>) -> String {
    let names: Vec<String> = names.collect();
    format!("must be one of {}, got {value:?}", names.join(", "))
}

/// Percent-decodes a query part (`+` is a space).
fn decode(part: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(part.len());
    let mut raw = part.bytes();
    while let Some(b) = raw.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex: Vec<u8> = raw.by_ref().take(2).collect();
                let digit = |h: u8| (h as char).to_digit(16);
                match (
                    hex.first().copied().and_then(digit),
                    hex.get(1).copied().and_then(digit),
                ) {
                    (Some(hi), Some(lo)) => bytes.push((hi * 16 + lo) as u8),
                    _ => return Err(format!("{part:?} has a '%' not followed by two hex digits")),
                }
            }
            _ => bytes.push(b),
        }
    }
    String::from_utf8(bytes).map_err(|_| format!("{part:?} is not UTF-8 once decoded"))
}

/// Percent-encodes what a query value may not hold as is.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::scene::Presets;

    fn preset(name: &str) -> Scene {
        Presets::built_in().find(name).unwrap().load().unwrap()
    }

    #[test]
    fn a_link_opens_its_lesson_with_the_edits_it_carries() {
        let link = SceneLink::parse(
            "?scene=lesson-4-learning-rate&seed=3&lr=0.25&batch=32&optimizer=Adam&activation=relu&layers=6-5&dropout=0.1&speed=max",
        )
        .unwrap();
        assert_eq!(link.scene_name(), "lesson-4-learning-rate");
        let mut scene = preset(link.scene_name());
        link.apply(&mut scene);
        assert_eq!(scene.seed, 3);
        assert_eq!(scene.train.learning_rate, 0.25);
        assert_eq!(scene.train.batch_size, 32);
        assert_eq!(scene.train.optimizer, OptimizerKind::Adam);
        assert_eq!(scene.model.hidden, vec![6, 5]);
        assert_eq!(scene.model.hidden_activations(), vec![Activation::Relu; 2]);
        assert_eq!(scene.model.dropout, 0.1);
        assert_eq!(scene.view.steps_per_second, None);
        scene.validate().unwrap();
        let per_layer = SceneLink::parse("activation=tanh-gelu&layers=3-4").unwrap();
        per_layer.apply(&mut scene);
        assert_eq!(
            scene.model.hidden_activations(),
            vec![Activation::Tanh, Activation::Gelu]
        );
    }

    #[test]
    fn the_link_of_an_edited_scene_reopens_the_same_scene() {
        let base = preset("lesson-2-xor");
        let mut now = base.clone();
        now.seed = 17;
        now.train.learning_rate = 0.07;
        now.model.set_layers(vec![5, 3], vec![Activation::Sigmoid]);
        let link = SceneLink::between("lesson-2-xor", &base, &now);
        let query = link.to_query();
        assert_eq!(
            query,
            "?scene=lesson-2-xor&seed=17&lr=0.07&activation=sigmoid&layers=5-3"
        );
        let mut reopened = preset("lesson-2-xor");
        SceneLink::parse(&query).unwrap().apply(&mut reopened);
        assert_eq!(reopened, now);
        // One activation per layer.
        let mut now = base.clone();
        now.model
            .set_layers(vec![5, 3], vec![Activation::Relu, Activation::Tanh]);
        let query = SceneLink::between("lesson-2-xor", &base, &now).to_query();
        assert!(query.contains("activation=relu-tanh"), "{query}");
        let mut reopened = preset("lesson-2-xor");
        SceneLink::parse(&query).unwrap().apply(&mut reopened);
        assert_eq!(reopened, now);
        // The untouched default scene is the bare page.
        let default = preset(DEFAULT_SCENE);
        assert_eq!(
            SceneLink::between(DEFAULT_SCENE, &default, &default).to_query(),
            ""
        );
    }

    #[test]
    fn a_link_to_a_served_run_survives_encoding() {
        let link = SceneLink::parse("connect=ws%3A%2F%2F127.0.0.1%3A7878%2Fstream").unwrap();
        assert_eq!(link.connect.as_deref(), Some("ws://127.0.0.1:7878/stream"));
        assert_eq!(
            SceneLink::parse(&link.to_query()).unwrap(),
            link,
            "{}",
            link.to_query()
        );
    }

    #[test]
    fn a_bad_link_names_the_setting_and_what_it_got() {
        for (query, says) in [
            ("?lr=fast", "`?lr`"),
            ("?lr=-1", "positive"),
            ("?seed=1.5", "whole number"),
            ("?optimizer=lbfgs", "gd, sgd, momentum, adam"),
            ("?activation=swish", "relu, tanh"),
            ("?layers=8-0", "at least one neuron"),
            ("?dropout=1", "under 1"),
            ("?speed=0", "positive rate"),
            ("?connect=http://x", "ws://"),
            ("?colour=red", "`?colour`: is not a link setting"),
            ("?scene=%zz", "two hex digits"),
            ("?scene=", "names no scene"),
        ] {
            let err = SceneLink::parse(query).unwrap_err().to_string();
            assert!(err.contains(says), "{query}: {err}");
        }
    }
}
