//! The 2D point sets of TensorFlow Playground: circle, xor, gaussians, spiral, moons.

use rand::RngExt;

use super::{Dataset, InputLayout, Targets, Task, Toy2dSpec, shuffled_split};
use crate::lab::rng::{self, LabRng, Stream};

/// Which 2D set to draw.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Circle,
    Xor,
    Gaussians,
    Spiral,
    Moons,
}

/// Points are drawn in a [-6, 6]² world, as in the Playground, and scaled by this
/// so that the network sees inputs in [-1, 1].
const SCALE: f32 = 1.0 / 6.0;

/// The classes' names: the colours the app draws them in, TensorFlow
/// Playground's orange and blue first.
pub const CLASS_NAMES: [&str; MAX_CLASSES] = ["orange", "blue", "green", "purple", "red", "teal"];

/// The most classes a spiral or a set of blobs has.
pub const MAX_CLASSES: usize = 6;

pub(super) fn generate(kind: Kind, spec: &Toy2dSpec) -> Dataset {
    let mut r = rng::rng(spec.seed, Stream::Data);
    let n = spec.samples;
    let mut x = Vec::with_capacity(n * 2);
    let mut labels = Vec::with_capacity(n);
    let k = spec.classes.max(2);
    for i in 0..n {
        // Take classes in turn so that all are equally represented (xor
        // labels by quadrant instead).
        let class = (i % k) as u32;
        let (px, py, class) = match kind {
            Kind::Circle => circle(&mut r, class, spec.noise),
            Kind::Xor => xor(&mut r, spec.noise),
            Kind::Gaussians => gaussian(&mut r, class, k, spec.noise),
            Kind::Spiral => spiral(&mut r, class, k, i / k, n.div_ceil(k), spec.noise),
            Kind::Moons => moon(&mut r, class, spec.noise),
        };
        x.push((px * SCALE).clamp(-1.0, 1.0));
        x.push((py * SCALE).clamp(-1.0, 1.0));
        labels.push(class);
    }
    let name = match kind {
        Kind::Circle => "circle",
        Kind::Xor => "xor",
        Kind::Gaussians => "gaussians",
        Kind::Spiral => "spiral",
        Kind::Moons => "moons",
    };
    let (train, test) =
        shuffled_split(x, Targets::Labels(labels), 2, spec.test_fraction, spec.seed);
    Dataset {
        name: name.into(),
        inputs: 2,
        layout: InputLayout::Plane {
            x: (-1.0, 1.0),
            y: (-1.0, 1.0),
        },
        task: Task::Classification { classes: k },
        class_names: CLASS_NAMES[..k].iter().map(|c| c.to_string()).collect(),
        train,
        test,
        train_region: None,
        pde: None,
    }
}

fn jitter(r: &mut LabRng, noise: f32) -> f32 {
    rng::normal(r) * noise * 1.5
}

fn circle(r: &mut LabRng, class: u32, noise: f32) -> (f32, f32, u32) {
    const RADIUS: f32 = 5.0;
    let rad = if class == 0 {
        r.random_range(0.0..RADIUS * 0.5)
    } else {
        r.random_range(RADIUS * 0.7..RADIUS)
    };
    let angle = r.random_range(0.0..std::f32::consts::TAU);
    (
        rad * angle.sin() + jitter(r, noise),
        rad * angle.cos() + jitter(r, noise),
        class,
    )
}

/// Xor labels a point by its quadrant, so the class follows the point.
fn xor(r: &mut LabRng, noise: f32) -> (f32, f32, u32) {
    // Keep points off the axes, where the label flips.
    const PADDING: f32 = 0.3;
    let mut coord = || {
        let v: f32 = r.random_range(-5.0..5.0);
        if v > 0.0 { v + PADDING } else { v - PADDING }
    };
    let (px, py) = (coord(), coord());
    let class = u32::from(px * py >= 0.0);
    (px + jitter(r, noise), py + jitter(r, noise), class)
}

/// One of `k` blobs: two on the diagonal (the Playground's), more evenly
/// round a circle of the same radius.
fn gaussian(r: &mut LabRng, class: u32, k: usize, noise: f32) -> (f32, f32, u32) {
    let (cx, cy) = if k == 2 {
        let c = if class == 0 { 2.0 } else { -2.0 };
        (c, c)
    } else {
        let angle = std::f32::consts::FRAC_PI_4 + std::f32::consts::TAU * class as f32 / k as f32;
        let radius = 2.0 * std::f32::consts::SQRT_2;
        (radius * angle.cos(), radius * angle.sin())
    };
    let spread = 0.5 + noise * 3.0;
    (
        cx + rng::normal(r) * spread,
        cy + rng::normal(r) * spread,
        class,
    )
}

/// Point `i` of arm `class` of a `k`-armed spiral.
fn spiral(
    r: &mut LabRng,
    class: u32,
    k: usize,
    i: usize,
    per_class: usize,
    noise: f32,
) -> (f32, f32, u32) {
    let t = i as f32 / per_class as f32;
    let rad = t * 5.0;
    // Two arms keep the Playground's exact π apart.
    let delta = match (k, class) {
        (_, 0) => 0.0,
        (2, _) => std::f32::consts::PI,
        _ => std::f32::consts::TAU * class as f32 / k as f32,
    };
    let angle = 1.75 * t * std::f32::consts::TAU + delta;
    (
        rad * angle.sin() + jitter(r, noise),
        rad * angle.cos() + jitter(r, noise),
        class,
    )
}

fn moon(r: &mut LabRng, class: u32, noise: f32) -> (f32, f32, u32) {
    let t: f32 = r.random_range(0.0..std::f32::consts::PI);
    // sklearn's moons, centred and scaled into the [-6, 6] world.
    let (mx, my) = if class == 0 {
        (t.cos(), t.sin())
    } else {
        (1.0 - t.cos(), 0.5 - t.sin())
    };
    (
        (mx - 0.5) * 3.5 + jitter(r, noise),
        (my - 0.25) * 3.5 + jitter(r, noise),
        class,
    )
}
