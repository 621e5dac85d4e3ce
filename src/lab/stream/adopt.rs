//! A network from elsewhere adopted as a run: the scene that holds it (its
//! shape read from a message, the data from a scene), and the check that the
//! two fit.

use crate::lab::data::Dataset;
use crate::lab::error::{LabError, LabResult};
use crate::lab::model::Activation;
use crate::lab::scene::Scene;

use super::NetworkMessage;

/// `data_scene` made to hold the network of `first` (the first message of a
/// series): its widths and non-linearities (`activation` where the message
/// does not say), no dropout or rescaling, every frame recorded, named
/// `import-<scene>`. `steps` is the last step expected.
pub fn adopted_scene(
    mut data_scene: Scene,
    first: &NetworkMessage,
    activation: Activation,
    steps: u64,
) -> Scene {
    let output = data_scene.output();
    let config = first.architecture(activation, output);
    let model = &mut data_scene.model;
    model.hidden = config.hidden().to_vec();
    model.activations = Some(config.activations.clone());
    model.output = Some(config.output);
    model.dropout = 0.0;
    model.gain = 1.0;
    model.parameterization = Default::default();
    data_scene.train.steps = steps;
    data_scene.record.frames = true;
    data_scene.name = format!("import-{}", data_scene.name);
    data_scene
}

/// Checks that `message` (from `origin`) takes the inputs of `data` and gives
/// its outputs; `data_name` names the data in the error.
pub fn check_fits(
    message: &NetworkMessage,
    data: &Dataset,
    origin: &str,
    data_name: &str,
) -> LabResult<()> {
    let sizes = message.sizes();
    let (inputs, outputs) = (
        sizes.first().copied().unwrap_or(0),
        sizes.last().copied().unwrap_or(0),
    );
    if inputs == data.inputs && outputs == data.outputs() {
        return Ok(());
    }
    Err(LabError::stream(
        origin,
        format!(
            "the network takes {inputs} inputs and gives {outputs} outputs, but the data of `{data_name}` has {} inputs and {} outputs",
            data.inputs,
            data.outputs()
        ),
    ))
}
