//! Lines drawn on the CPU into an image, for views of thousands of lines:
//! they are drawn once, when what they show changes, and each frame then
//! draws one texture. A GPU draws thin lines cheaply; a software renderer
//! (lavapipe) spends most of a frame on them.

use bevy_egui::egui::{Color32, ColorImage, Pos2};

/// An image that anti-aliased lines are blended into ("over", premultiplied).
pub(super) struct Canvas {
    width: usize,
    height: usize,
    /// Premultiplied red, green, blue and alpha, 0 to 1.
    pixels: Vec<[f32; 4]>,
}

impl Canvas {
    /// A transparent canvas of `width` × `height` pixels.
    pub(super) fn new(width: usize, height: usize) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![[0.0; 4]; width * height],
        }
    }

    /// Blends `colour` at `alpha` × `coverage` over pixel (x, y), if it is inside.
    fn plot(&mut self, x: i64, y: i64, colour: [f32; 3], alpha: f32) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height || alpha <= 0.0 {
            return;
        }
        let p = &mut self.pixels[y as usize * self.width + x as usize];
        let keep = 1.0 - alpha;
        for k in 0..3 {
            p[k] = colour[k] * alpha + p[k] * keep;
        }
        p[3] = alpha + p[3] * keep;
    }

    /// An anti-aliased line from `a` to `b` (pixel coordinates), one pixel
    /// wide, in `colour` (straight sRGB) at opacity `alpha` (Xiaolin Wu's
    /// algorithm: each step along the long axis covers two pixels of the
    /// short one by how near they are).
    pub(super) fn line(&mut self, a: Pos2, b: Pos2, colour: Color32, alpha: f32) {
        let rgb = [
            f32::from(colour.r()) / 255.0,
            f32::from(colour.g()) / 255.0,
            f32::from(colour.b()) / 255.0,
        ];
        let (mut x0, mut y0, mut x1, mut y1) = (a.x, a.y, b.x, b.y);
        if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
            return;
        }
        let steep = (y1 - y0).abs() > (x1 - x0).abs();
        if steep {
            std::mem::swap(&mut x0, &mut y0);
            std::mem::swap(&mut x1, &mut y1);
        }
        if x0 > x1 {
            std::mem::swap(&mut x0, &mut x1);
            std::mem::swap(&mut y0, &mut y1);
        }
        let dx = x1 - x0;
        let gradient = if dx < 1e-6 { 0.0 } else { (y1 - y0) / dx };
        // Only the part within the canvas is walked.
        let long = if steep { self.height } else { self.width } as f32;
        let start = x0.round().max(0.0);
        let end = x1.round().min(long - 1.0);
        let mut x = start;
        while x <= end {
            let y = y0 + gradient * (x - x0);
            let below = y.floor();
            let near = 1.0 - (y - below);
            let (xi, yi) = (x as i64, below as i64);
            if steep {
                self.plot(yi, xi, rgb, alpha * near);
                self.plot(yi + 1, xi, rgb, alpha * (1.0 - near));
            } else {
                self.plot(xi, yi, rgb, alpha * near);
                self.plot(xi, yi + 1, rgb, alpha * (1.0 - near));
            }
            x += 1.0;
        }
    }

    /// A polyline through `points`.
    pub(super) fn polyline(&mut self, points: &[Pos2], colour: Color32, alpha: f32) {
        for pair in points.windows(2) {
            self.line(pair[0], pair[1], colour, alpha);
        }
    }

    /// The canvas as an egui image (premultiplied, transparent where nothing was drawn).
    pub(super) fn into_image(self) -> ColorImage {
        let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        let pixels = self
            .pixels
            .iter()
            .map(|p| {
                Color32::from_rgba_premultiplied(byte(p[0]), byte(p[1]), byte(p[2]), byte(p[3]))
            })
            .collect();
        ColorImage::new([self.width, self.height], pixels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_covers_its_pixels_and_lines_blend_over_each_other() {
        let mut c = Canvas::new(20, 10);
        c.line(Pos2::new(2.0, 4.0), Pos2::new(17.0, 4.0), Color32::RED, 1.0);
        let image = c.into_image();
        let at = |x: usize, y: usize| image.pixels[y * 20 + x];
        for x in 2..=17 {
            assert_eq!(
                at(x, 4),
                Color32::from_rgba_premultiplied(255, 0, 0, 255),
                "x {x}"
            );
            assert_eq!(at(x, 5).a(), 0, "a line on a row covers that row only");
        }
        assert_eq!(at(1, 4).a(), 0);
        assert_eq!(at(18, 4).a(), 0);

        // Half way between two rows, a line covers each by half.
        let mut c = Canvas::new(20, 10);
        c.line(
            Pos2::new(0.0, 4.5),
            Pos2::new(19.0, 4.5),
            Color32::WHITE,
            1.0,
        );
        let image = c.into_image();
        assert!((image.pixels[4 * 20 + 9].a() as i32 - 128).abs() <= 1);
        assert!((image.pixels[5 * 20 + 9].a() as i32 - 128).abs() <= 1);

        // A steep line walks rows; two translucent lines add up ("over").
        let mut c = Canvas::new(10, 20);
        for _ in 0..2 {
            c.line(
                Pos2::new(3.0, 0.0),
                Pos2::new(3.0, 19.0),
                Color32::BLUE,
                0.5,
            );
        }
        let image = c.into_image();
        let p = image.pixels[10 * 10 + 3];
        assert_eq!((p.r(), p.b()), (0, 191));
        assert_eq!(p.a(), 191, "0.5 over 0.5 is 0.75");
        // Off the canvas, nothing; no panic on a line leaving it.
        let mut c = Canvas::new(4, 4);
        c.line(
            Pos2::new(-50.0, -3.0),
            Pos2::new(80.0, 9.0),
            Color32::RED,
            1.0,
        );
        c.line(
            Pos2::new(f32::NAN, 0.0),
            Pos2::new(1.0, 1.0),
            Color32::RED,
            1.0,
        );
        assert_eq!(c.into_image().pixels.len(), 16);
    }
}
