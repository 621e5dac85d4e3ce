//! Drawings as network inputs: a hand-drawn canvas preprocessed the way each image data set was.

/// How a data set's images were made, and so how a drawing must be prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrawingStyle {
    /// MNIST: the digit scaled to fit a 20x20 box, then placed in 28x28 with its
    /// centre of mass at the centre.
    Mnist,
    /// UCI 8x8 digits: the digit scaled to fit a 32x32 bitmap, then each 4x4 block
    /// counts its inked pixels (0 to 16).
    Uci8x8,
    /// Anything else: the canvas averaged down to the image size, in place.
    Plain,
}

impl DrawingStyle {
    /// The style of the data set called `name`.
    pub fn of(name: &str) -> Self {
        match name {
            "mnist" => DrawingStyle::Mnist,
            "digits8x8" => DrawingStyle::Uci8x8,
            _ => DrawingStyle::Plain,
        }
    }
}

/// Ink below this counts as paper when finding the drawing's bounds.
const INK: f32 = 0.05;

/// Average of `src` (side `n`) over the rectangle `[x0, x1) x [y0, y1)` in source
/// pixels, sampled 4x4 times per call.
fn area(src: &[f32], n: usize, (x0, y0, x1, y1): (f32, f32, f32, f32)) -> f32 {
    const K: usize = 4;
    let mut sum = 0.0;
    for sy in 0..K {
        for sx in 0..K {
            let x = x0 + (x1 - x0) * (sx as f32 + 0.5) / K as f32;
            let y = y0 + (y1 - y0) * (sy as f32 + 0.5) / K as f32;
            let (xi, yi) = (x.floor() as isize, y.floor() as isize);
            if xi >= 0 && yi >= 0 && (xi as usize) < n && (yi as usize) < n {
                sum += src[yi as usize * n + xi as usize];
            }
        }
    }
    sum / (K * K) as f32
}

/// The bounding box of the ink, `(x0, y0, x1, y1)` in pixels, if there is any.
fn ink_bounds(canvas: &[f32], n: usize) -> Option<(usize, usize, usize, usize)> {
    let mut b: Option<(usize, usize, usize, usize)> = None;
    for y in 0..n {
        for x in 0..n {
            if canvas[y * n + x] > INK {
                b = Some(match b {
                    None => (x, y, x + 1, y + 1),
                    Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1)),
                });
            }
        }
    }
    b
}

/// The ink scaled so its longer side is `fit` pixels: (pixels, width, height).
fn fitted(canvas: &[f32], n: usize, fit: usize) -> Option<(Vec<f32>, usize, usize)> {
    let (x0, y0, x1, y1) = ink_bounds(canvas, n)?;
    let (bw, bh) = ((x1 - x0) as f32, (y1 - y0) as f32);
    let scale = fit as f32 / bw.max(bh);
    let (gw, gh) = (
        ((bw * scale).round() as usize).clamp(1, fit),
        ((bh * scale).round() as usize).clamp(1, fit),
    );
    let mut out = vec![0.0; gw * gh];
    for gy in 0..gh {
        for gx in 0..gw {
            let sx = x0 as f32 + gx as f32 * bw / gw as f32;
            let sy = y0 as f32 + gy as f32 * bh / gh as f32;
            out[gy * gw + gx] = area(
                canvas,
                n,
                (sx, sy, sx + bw / gw as f32, sy + bh / gh as f32),
            );
        }
    }
    Some((out, gw, gh))
}

/// Prepares a square canvas (`side` x `side`, ink 0 to 1, row-major) as an
/// input of a `width` x `height` image data set in `style`, with values in 0 to 1
/// like the training images. A blank canvas gives a blank image.
pub fn preprocess_drawing(
    canvas: &[f32],
    side: usize,
    style: DrawingStyle,
    width: usize,
    height: usize,
) -> Vec<f32> {
    let mut out = vec![0.0; width * height];
    match style {
        DrawingStyle::Mnist => {
            let Some((glyph, gw, gh)) = fitted(canvas, side, 20) else {
                return out;
            };
            // Centre of mass of the glyph goes to the image centre.
            let mass: f32 = glyph.iter().sum::<f32>().max(1e-6);
            let cx = glyph
                .iter()
                .enumerate()
                .map(|(i, v)| (i % gw) as f32 * v)
                .sum::<f32>()
                / mass;
            let cy = glyph
                .iter()
                .enumerate()
                .map(|(i, v)| (i / gw) as f32 * v)
                .sum::<f32>()
                / mass;
            let ox = (width as f32 / 2.0 - 0.5 - cx).round() as isize;
            let oy = (height as f32 / 2.0 - 0.5 - cy).round() as isize;
            for gy in 0..gh {
                for gx in 0..gw {
                    let (x, y) = (gx as isize + ox, gy as isize + oy);
                    if x >= 0 && y >= 0 && (x as usize) < width && (y as usize) < height {
                        out[y as usize * width + x as usize] = glyph[gy * gw + gx].min(1.0);
                    }
                }
            }
        }
        DrawingStyle::Uci8x8 => {
            let Some((glyph, gw, gh)) = fitted(canvas, side, 32) else {
                return out;
            };
            // Centre the glyph on the 32x32 bitmap, ink it, count per 4x4 block.
            let (ox, oy) = ((32 - gw) / 2, (32 - gh) / 2);
            let (bw, bh) = (32 / width.max(1), 32 / height.max(1));
            for gy in 0..gh {
                for gx in 0..gw {
                    if glyph[gy * gw + gx] > 0.5 {
                        let (x, y) = ((gx + ox) / bw.max(1), (gy + oy) / bh.max(1));
                        if x < width && y < height {
                            out[y * width + x] += 1.0 / (bw * bh) as f32;
                        }
                    }
                }
            }
        }
        DrawingStyle::Plain => {
            let (sx, sy) = (side as f32 / width as f32, side as f32 / height as f32);
            for y in 0..height {
                for x in 0..width {
                    let (x0, y0) = (x as f32 * sx, y as f32 * sy);
                    out[y * width + x] = area(canvas, side, (x0, y0, x0 + sx, y0 + sy)).min(1.0);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A canvas with a filled rectangle of ink.
    fn rect(n: usize, (x0, y0, x1, y1): (usize, usize, usize, usize)) -> Vec<f32> {
        let mut c = vec![0.0; n * n];
        for y in y0..y1 {
            for x in x0..x1 {
                c[y * n + x] = 1.0;
            }
        }
        c
    }

    #[test]
    fn mnist_style_scales_to_20_pixels_and_centres_the_mass() {
        // A small stroke in a corner of the canvas.
        let c = rect(112, (4, 10, 14, 40));
        let img = preprocess_drawing(&c, 112, DrawingStyle::Mnist, 28, 28);
        let inked: Vec<(usize, usize)> = (0..28 * 28)
            .filter(|&i| img[i] > 0.5)
            .map(|i| (i % 28, i / 28))
            .collect();
        let rows =
            inked.iter().map(|p| p.1).max().unwrap() - inked.iter().map(|p| p.1).min().unwrap() + 1;
        assert_eq!(rows, 20, "the longer side becomes 20 pixels");
        let mass: f32 = img.iter().sum();
        let cx = (0..784).map(|i| (i % 28) as f32 * img[i]).sum::<f32>() / mass;
        let cy = (0..784).map(|i| (i / 28) as f32 * img[i]).sum::<f32>() / mass;
        assert!(
            (cx - 13.5).abs() <= 1.0 && (cy - 13.5).abs() <= 1.0,
            "{cx}, {cy}"
        );
        assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn uci_style_counts_blocks_like_the_8x8_digits() {
        // A tall bar: after fitting to 32x32 it spans all 8 rows, in the middle columns.
        let c = rect(64, (30, 4, 36, 60));
        let img = preprocess_drawing(&c, 64, DrawingStyle::Uci8x8, 8, 8);
        for y in 0..8 {
            assert!(
                img[y * 8 + 3] + img[y * 8 + 4] > 0.5,
                "row {y}: {:?}",
                &img[y * 8..y * 8 + 8]
            );
            assert_eq!(img[y * 8], 0.0);
        }
        assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn a_blank_canvas_is_a_blank_image_and_plain_keeps_position() {
        let blank = vec![0.0; 64 * 64];
        for style in [
            DrawingStyle::Mnist,
            DrawingStyle::Uci8x8,
            DrawingStyle::Plain,
        ] {
            assert!(
                preprocess_drawing(&blank, 64, style, 8, 8)
                    .iter()
                    .all(|&v| v == 0.0)
            );
        }
        let c = rect(64, (0, 0, 8, 8));
        let img = preprocess_drawing(&c, 64, DrawingStyle::Plain, 8, 8);
        assert_eq!(img[0], 1.0);
        assert_eq!(img[63], 0.0);
    }
}
