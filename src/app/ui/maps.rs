//! The neuron-maps panel: every hidden and output neuron's activation over
//! the input plane, a row of small pictures per layer, as TensorFlow
//! Playground shows them.

use bevy_egui::egui;

use crate::app::network::NeuronId;
use crate::app::neuron_maps::NeuronMapView;
use crate::lab::Topology;

/// The panel's textures, refreshed when the maps change.
#[derive(Default)]
pub(crate) struct MapTextures {
    /// The map serial the textures hold.
    serial: u64,
    /// Per neuron layer (after the inputs), per neuron.
    textures: Vec<Vec<egui::TextureHandle>>,
}

impl MapTextures {
    fn refresh(&mut self, ctx: &egui::Context, view: &NeuronMapView) {
        if self.serial == view.serial {
            return;
        }
        self.serial = view.serial;
        let side = view.side();
        let shape: Vec<usize> = view.colours.iter().map(Vec::len).collect();
        let same_shape = shape == self.textures.iter().map(Vec::len).collect::<Vec<_>>();
        if !same_shape {
            self.textures.clear();
        }
        for (l, layer) in view.colours.iter().enumerate() {
            if !same_shape {
                self.textures.push(Vec::with_capacity(layer.len()));
            }
            for (n, rgba) in layer.iter().enumerate() {
                let image = egui::ColorImage::from_rgba_unmultiplied([side, side], rgba);
                match self.textures[l].get_mut(n) {
                    Some(t) => t.set(image, egui::TextureOptions::LINEAR),
                    None => self.textures[l].push(ctx.load_texture(
                        format!("neuron-map-{}-{n}", l + 1),
                        image,
                        egui::TextureOptions::LINEAR,
                    )),
                }
            }
        }
    }
}

/// Draws the neuron maps of the shown frame, each `size` points a side; a
/// click on one selects its neuron.
pub(crate) fn neuron_maps_ui(
    ui: &mut egui::Ui,
    textures: &mut MapTextures,
    view: &NeuronMapView,
    topology: &Topology,
    selected: Option<NeuronId>,
    size: f32,
) -> Option<NeuronId> {
    if view.maps.is_none() {
        ui.label("Neuron maps need a task on a plane (two inputs).");
        return None;
    }
    textures.refresh(ui.ctx(), view);
    let mut clicked = None;
    let layers = textures.textures.len();
    for (l, row) in textures.textures.iter().enumerate() {
        let name = if l + 1 == layers {
            "output".to_string()
        } else {
            format!("hidden layer {}", l + 1)
        };
        ui.small(format!("{name}: {} neurons", row.len()));
        ui.horizontal_wrapped(|ui| {
            for (n, tex) in row.iter().enumerate() {
                let neuron = NeuronId::new(l + 1, n);
                let label = if l + 1 == layers {
                    topology
                        .output_names
                        .get(n)
                        .cloned()
                        .unwrap_or_else(|| format!("out {n}"))
                } else {
                    format!("L{} n{n}", l + 1)
                };
                let response = ui
                    .add(
                        egui::Image::new((tex.id(), egui::vec2(size, size)))
                            .sense(egui::Sense::click()),
                    )
                    .on_hover_text(format!("neuron map {label}"));
                if selected == Some(neuron) {
                    ui.painter().rect_stroke(
                        response.rect.expand(1.0),
                        1.0,
                        egui::Stroke::new(2.0, egui::Color32::from_rgb(80, 255, 100)),
                        egui::StrokeKind::Outside,
                    );
                }
                if response.clicked() {
                    clicked = Some(neuron);
                }
            }
        });
    }
    clicked
}
