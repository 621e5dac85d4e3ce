//! Circles vs squares on an 8x8 grid: Neural Illumination's task, drawn procedurally.

use rand::RngExt;

use super::{Dataset, InputLayout, ShapesSpec, Split, Targets};
use crate::lab::rng::{self, LabRng, Stream};

/// Side of the image in pixels.
pub(super) const SIDE: usize = 8;

/// Draws `spec.train + spec.test` images, alternating circles (label 0) and squares (label 1).
pub(super) fn generate(spec: &ShapesSpec) -> Dataset {
    let mut r = rng::rng(spec.seed, Stream::Data);
    let mut make = |n: usize, offset: usize| {
        let mut x = Vec::with_capacity(n * SIDE * SIDE);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let label = ((i + offset) % 2) as u32;
            x.extend(draw(&mut r, label == 1, spec.sizes, spec.noise));
            labels.push(label);
        }
        Split {
            x,
            targets: Targets::Labels(labels),
        }
    };
    let train = make(spec.train, 0);
    let test = make(spec.test, 1);
    Dataset {
        name: "circles-vs-squares".into(),
        inputs: SIDE * SIDE,
        layout: InputLayout::Image {
            width: SIDE,
            height: SIDE,
        },
        task: super::Task::Classification { classes: 2 },
        class_names: vec!["circle".into(), "square".into()],
        train,
        test,
        train_region: None,
        pde: None,
    }
}

/// One binary 8x8 image: an outlined circle or square at a random place and size,
/// with `noise` the chance of flipping each pixel.
fn draw(r: &mut LabRng, square: bool, sizes: (usize, usize), noise: f32) -> Vec<f32> {
    let mut img = vec![0.0f32; SIDE * SIDE];
    // Sizes overlap between the two classes, so that ink count alone cannot tell them apart.
    let size: usize = r.random_range(sizes.0..=sizes.1);
    let max_origin = SIDE - size;
    let ox = r.random_range(0..=max_origin);
    let oy = r.random_range(0..=max_origin);
    let half = size as f32 / 2.0;
    let (cx, cy) = (ox as f32 + half, oy as f32 + half);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let on = if square {
                let inside = x >= ox && x < ox + size && y >= oy && y < oy + size;
                let edge = x == ox || x == ox + size - 1 || y == oy || y == oy + size - 1;
                inside && edge
            } else {
                // A ring one pixel wide, radius just inside the bounding box.
                let d = ((px - cx).powi(2) + (py - cy).powi(2)).sqrt();
                (d - (half - 0.5)).abs() <= 0.5
            };
            img[y * SIDE + x] = if on { 1.0 } else { 0.0 };
        }
    }
    for p in &mut img {
        if r.random::<f32>() < noise {
            *p = 1.0 - *p;
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ascii(img: &[f32]) -> String {
        img.chunks(SIDE)
            .map(|row| {
                row.iter()
                    .map(|&v| if v > 0.5 { '#' } else { '.' })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn shapes_look_like_their_class() {
        let mut r = rng::rng(3, Stream::Data);
        let circle = draw(&mut r, false, (4, 7), 0.0);
        let square = draw(&mut r, true, (4, 7), 0.0);
        // A square outline has its bounding-box corners lit; a ring does not.
        let corners = |img: &[f32]| {
            let lit: Vec<usize> = (0..SIDE * SIDE).filter(|&i| img[i] > 0.5).collect();
            let (xs, ys): (Vec<usize>, Vec<usize>) =
                lit.iter().map(|i| (i % SIDE, i / SIDE)).unzip();
            let (x0, x1) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap());
            let (y0, y1) = (*ys.iter().min().unwrap(), *ys.iter().max().unwrap());
            [(x0, y0), (x1, y0), (x0, y1), (x1, y1)]
                .iter()
                .filter(|(x, y)| img[y * SIDE + x] > 0.5)
                .count()
        };
        assert_eq!(corners(&square), 4, "\n{}", ascii(&square));
        assert_eq!(corners(&circle), 0, "\n{}", ascii(&circle));
    }

    #[test]
    fn default_split_is_240_by_40() {
        let d = generate(&ShapesSpec::default());
        assert_eq!((d.train.len(), d.test.len()), (240, 40));
        assert_eq!(d.inputs, 64);
    }
}
