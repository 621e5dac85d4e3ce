//! The drawing pad: draw a digit or shape with brush and eraser; the network reads it live.

use bevy_egui::egui;

use crate::lab::data::{DrawingStyle, preprocess_drawing};

/// Canvas resolution (pixels per side): finer than any data set's images.
pub(crate) const CANVAS_SIDE: usize = 112;

/// The pad's state.
#[derive(Clone)]
pub(crate) struct DrawPad {
    /// Ink, 0 to 1, row-major, `CANVAS_SIDE` squared.
    pub ink: Vec<f32>,
    /// True while the eraser is chosen.
    pub eraser: bool,
    /// Brush radius in canvas pixels.
    pub brush_px: f32,
    texture: Option<egui::TextureHandle>,
    dirty: bool,
}

impl Default for DrawPad {
    fn default() -> Self {
        DrawPad {
            ink: vec![0.0; CANVAS_SIDE * CANVAS_SIDE],
            eraser: false,
            brush_px: 6.0,
            texture: None,
            dirty: true,
        }
    }
}

impl DrawPad {
    /// Paints (or erases) a soft disc at canvas position `(x, y)`.
    pub(crate) fn stamp(&mut self, x: f32, y: f32, erase: bool) {
        let r = self.brush_px;
        let (x0, x1) = (
            (x - r).floor().max(0.0) as usize,
            ((x + r).ceil() as usize).min(CANVAS_SIDE),
        );
        let (y0, y1) = (
            (y - r).floor().max(0.0) as usize,
            ((y + r).ceil() as usize).min(CANVAS_SIDE),
        );
        for py in y0..y1 {
            for px in x0..x1 {
                let d = ((px as f32 + 0.5 - x).powi(2) + (py as f32 + 0.5 - y).powi(2)).sqrt();
                // Full ink inside, a soft edge one pixel wide.
                let a = (r - d + 0.5).clamp(0.0, 1.0);
                let v = &mut self.ink[py * CANVAS_SIDE + px];
                *v = if erase { *v * (1.0 - a) } else { v.max(a) };
            }
        }
        self.dirty = true;
    }

    /// Paints a line of discs from `a` to `b`.
    pub(crate) fn stroke(&mut self, a: (f32, f32), b: (f32, f32), erase: bool) {
        let steps = ((b.0 - a.0).hypot(b.1 - a.1) / (self.brush_px * 0.5).max(0.5))
            .ceil()
            .max(1.0) as usize;
        for i in 0..=steps {
            let t = i as f32 / steps as f32;
            self.stamp(a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, erase);
        }
    }

    /// True when nothing is drawn.
    pub(crate) fn is_blank(&self) -> bool {
        self.ink.iter().all(|&v| v <= 0.05)
    }

    /// Clears the canvas.
    pub(crate) fn clear(&mut self) {
        self.ink.iter_mut().for_each(|v| *v = 0.0);
        self.dirty = true;
    }

    /// The drawing as an input of a `width` x `height` image data set called `data_name`.
    pub(crate) fn input(&self, data_name: &str, width: usize, height: usize) -> Vec<f32> {
        preprocess_drawing(
            &self.ink,
            CANVAS_SIDE,
            DrawingStyle::of(data_name),
            width,
            height,
        )
    }
}

/// What the pad asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DrawAction {
    /// Use this input (the drawing changed).
    Input(Vec<f32>),
    /// Go back to the probe sample.
    Clear,
}

/// Draws the pad, the network's view of the drawing and its prediction.
pub(crate) fn draw_ui(
    ui: &mut egui::Ui,
    pad: &mut DrawPad,
    (data_name, width, height): (&str, usize, usize),
    prediction: Option<(&[f64], &[String], Option<u64>)>,
) -> Option<DrawAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        ui.selectable_value(&mut pad.eraser, false, "✏ brush");
        ui.selectable_value(&mut pad.eraser, true, "eraser");
        ui.add(egui::Slider::new(&mut pad.brush_px, 2.0..=14.0).text("size"));
        if ui.button("clear").clicked() {
            pad.clear();
            action = Some(DrawAction::Clear);
        }
    });
    let side = ui.available_width().clamp(120.0, 240.0);
    let (response, painter) = ui.allocate_painter(egui::vec2(side, side), egui::Sense::drag());
    let rect = response.rect;
    let to_canvas = |p: egui::Pos2| {
        (
            (p.x - rect.min.x) / rect.width() * CANVAS_SIDE as f32,
            (p.y - rect.min.y) / rect.height() * CANVAS_SIDE as f32,
        )
    };
    if response.dragged() || response.drag_started() {
        let erase = pad.eraser || response.dragged_by(egui::PointerButton::Secondary);
        if let Some(now) = response.interact_pointer_pos() {
            let before = now - response.drag_delta();
            pad.stroke(to_canvas(before), to_canvas(now), erase);
        }
    }
    if pad.dirty || pad.texture.is_none() {
        let pixels: Vec<egui::Color32> = pad
            .ink
            .iter()
            .map(|&v| {
                let g = (v * 255.0) as u8;
                egui::Color32::from_rgb(g, g, g)
            })
            .collect();
        let image = egui::ColorImage::new([CANVAS_SIDE, CANVAS_SIDE], pixels);
        match &mut pad.texture {
            Some(t) => t.set(image, egui::TextureOptions::LINEAR),
            None => {
                pad.texture = Some(ui.ctx().load_texture(
                    "draw-pad",
                    image,
                    egui::TextureOptions::LINEAR,
                ));
            }
        }
        if !pad.is_blank() {
            action = Some(DrawAction::Input(pad.input(data_name, width, height)));
        }
        pad.dirty = false;
    }
    if let Some(t) = &pad.texture {
        painter.image(
            t.id(),
            rect,
            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
            egui::Color32::WHITE,
        );
    }
    painter.rect_stroke(
        rect,
        2.0,
        egui::Stroke::new(1.0, egui::Color32::GRAY),
        egui::StrokeKind::Inside,
    );
    if pad.is_blank() {
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "draw here",
            egui::FontId::proportional(14.0),
            egui::Color32::DARK_GRAY,
        );
    }
    if let Some((probabilities, names, step)) = prediction {
        let best = probabilities
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        if let Some(step) = step {
            ui.small(format!("read by the weights of step {step}"));
        }
        for (i, p) in probabilities.iter().enumerate() {
            let name = names.get(i).cloned().unwrap_or_else(|| i.to_string());
            let bar = egui::ProgressBar::new(*p as f32)
                .desired_width(ui.available_width() * 0.7)
                .text(format!("{name}: {:.1}%", p * 100.0));
            ui.horizontal(|ui| {
                ui.add(bar);
                if Some(i) == best {
                    ui.strong("◀");
                }
            });
        }
    }
    action
}
