//! A network from elsewhere adopted as a run: the scene that holds it (its
//! shape read from a message, the data from a scene), and the check that the
//! two fit.

use crate::lab::data::{ArraysSpec, CsvSpec, CsvTask, DataSpec, Dataset};
use crate::lab::error::{LabError, LabResult};
use crate::lab::model::Activation;
use crate::lab::scene::{Presets, Scene};

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
    if let Some(&first) = config.activations.first() {
        model.activation = first;
    }
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

/// The scene whose data `data` names: a preset or a scene file; a CSV file
/// (`.csv`, `.csv.gz`) whose last column is the target; numpy arrays, as
/// `inputs.npy,targets.npy` or an `.npz` holding `x` and `y` (or `inputs`
/// and `targets`). The target is a class when the network gives several
/// outputs (`outputs`), a number when it gives one. Inputs are taken as they
/// are, not normalised: the network was trained on them as its loop saw them.
pub fn data_scene(data: &str, presets: &Presets, outputs: usize) -> LabResult<Scene> {
    let lower = data.to_ascii_lowercase();
    let task = match outputs {
        1 => CsvTask::Regression,
        _ => CsvTask::Classification,
    };
    if lower.ends_with(".npz") || lower.ends_with(".npy") {
        return arrays_scene(data, presets, task);
    }
    if !(lower.ends_with(".csv") || lower.ends_with(".csv.gz")) {
        return presets.find(data)?.load();
    }
    let path = std::path::Path::new(data);
    let bytes = std::fs::read(path).map_err(|e| LabError::io(path, "cannot read", e))?;
    let text = match lower.ends_with(".gz") {
        true => {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
                .map_err(|e| LabError::io(path, "cannot decompress", e))?;
            out
        }
        false => String::from_utf8_lossy(&bytes).into_owned(),
    };
    let header = text.lines().next().unwrap_or_default();
    let target = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(header.as_bytes())
        .records()
        .next()
        .and_then(Result::ok)
        .and_then(|r| r.iter().next_back().map(str::to_string))
        .ok_or_else(|| LabError::data(path, "has no header line naming its columns"))?;
    // The run's scene.ron must find it from anywhere.
    let absolute = std::fs::canonicalize(path).map_err(|e| LabError::io(path, "cannot find", e))?;
    let mut scene = presets.find("default")?.load()?;
    scene.data = DataSpec::Csv(CsvSpec {
        path: absolute.display().to_string(),
        target,
        task,
        normalize: false,
        ..Default::default()
    });
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    scene.name = stem
        .trim_end_matches(".gz")
        .trim_end_matches(".csv")
        .to_string();
    scene.title = scene.name.clone();
    Ok(scene)
}

/// The scene of numpy arrays: `inputs.npy,targets.npy`, or an `.npz` with
/// `x` and `y` (or `inputs` and `targets`).
fn arrays_scene(data: &str, presets: &Presets, task: CsvTask) -> LabResult<Scene> {
    let absolute = |file: &str| -> LabResult<String> {
        let path = std::path::Path::new(file);
        std::fs::canonicalize(path)
            .map(|p| p.display().to_string())
            .map_err(|e| LabError::io(path, "cannot find", e))
    };
    let (inputs, targets) = match data.split_once(',') {
        Some((x, y)) => (absolute(x.trim())?, absolute(y.trim())?),
        None if data.to_ascii_lowercase().ends_with(".npz") => {
            let file = absolute(data)?;
            let bytes = std::fs::read(&file).map_err(|e| LabError::io(&file, "cannot read", e))?;
            let names: Vec<String> = crate::lab::data::npy::read_npz(&bytes)
                .map_err(|m| LabError::data(&file, m))?
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            let pair = [("x", "y"), ("inputs", "targets")]
                .into_iter()
                .find(|(x, y)| names.iter().any(|n| n == x) && names.iter().any(|n| n == y))
                .ok_or_else(|| {
                    LabError::data(
                        &file,
                        format!(
                            "needs arrays `x` and `y` (or `inputs` and `targets`); it has {}",
                            names.join(", ")
                        ),
                    )
                })?;
            (format!("{file}:{}", pair.0), format!("{file}:{}", pair.1))
        }
        None => {
            return Err(LabError::data(
                data,
                "an .npy file holds one array: give the inputs and the targets as INPUTS.npy,TARGETS.npy",
            ));
        }
    };
    let mut scene = presets.find("default")?.load()?;
    scene.data = DataSpec::Arrays(ArraysSpec {
        inputs,
        targets,
        task,
        ..Default::default()
    });
    scene.name = "arrays".into();
    scene.title = "numpy arrays".into();
    Ok(scene)
}
