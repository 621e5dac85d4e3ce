//! Your own data as numpy arrays: inputs `[n, in]` and targets `[n]` (class
//! labels, or one value a sample), each an `.npy` file or an array of an
//! `.npz` archive (`data.npz:x`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::npy::{NpyArray, read_npy, read_npz};
use super::{CsvTask, Dataset, Targets, Task, read_data_file, shuffled_split};
use crate::lab::error::{LabError, LabResult};
use crate::lab::scene::limits;

/// Settings of a data set of numpy arrays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArraysSpec {
    /// The inputs, `[n, in]`: an `.npy` file, or `FILE.npz:NAME`.
    pub inputs: String,
    /// The targets, `[n]`: an `.npy` file, or `FILE.npz:NAME`.
    pub targets: String,
    /// Class labels (whole numbers from 0) or values to predict.
    pub task: CsvTask,
    /// Share of the rows held out for testing.
    pub test_fraction: f32,
    /// Seed of the split.
    pub seed: u64,
}

impl Default for ArraysSpec {
    fn default() -> Self {
        ArraysSpec {
            inputs: String::new(),
            targets: String::new(),
            task: CsvTask::Classification,
            test_fraction: 0.2,
            seed: 0,
        }
    }
}

/// The most classes a label array may have.
const MAX_CLASSES: usize = 1000;

/// Reads the array `source` names (`x.npy`, or `data.npz:x`); `field` names
/// the setting in errors.
fn read_array(source: &str, field: &str) -> LabResult<(Vec<usize>, Vec<f32>)> {
    let (file, name) = match source.rsplit_once(':') {
        Some((f, n)) if f.to_ascii_lowercase().ends_with(".npz") => (f, Some(n)),
        _ => (source, None),
    };
    let data = read_data_file(file)?;
    let fail = |m: String| LabError::data(&data.path, format!("{m} (data.{field})"));
    let array = match name {
        None => read_npy(&data.bytes).map_err(fail)?,
        Some(name) => {
            let arrays = read_npz(&data.bytes).map_err(fail)?;
            let names: Vec<String> = arrays.iter().map(|(n, _)| n.clone()).collect();
            arrays
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, a)| a)
                .ok_or_else(|| {
                    LabError::data(
                        &data.path,
                        format!(
                            "has no array `{name}` (data.{field}); it has {}",
                            names.join(", ")
                        ),
                    )
                })?
        }
    };
    match array {
        NpyArray::Numbers { shape, values, .. } => Ok((shape, values)),
        NpyArray::Text(_) => Err(LabError::data(
            &data.path,
            format!("holds text, not numbers (data.{field})"),
        )),
    }
}

pub(super) fn load(spec: &ArraysSpec) -> LabResult<Dataset> {
    let (x_shape, x) = read_array(&spec.inputs, "inputs")?;
    let (y_shape, y) = read_array(&spec.targets, "targets")?;
    let path = Path::new(&spec.inputs);
    let (n, inputs) = match x_shape.as_slice() {
        [n] => (*n, 1),
        [n, i] => (*n, *i),
        other => {
            return Err(LabError::data(
                path,
                format!("inputs of shape {other:?}: expected [samples, inputs] (data.inputs)"),
            ));
        }
    };
    if y_shape.first() != Some(&n) || y_shape.len() > 2 {
        return Err(LabError::data(
            &spec.targets,
            format!(
                "targets of shape {y_shape:?} do not match inputs of shape {x_shape:?}: expected [{n}] or [{n}, outputs] (data.targets)"
            ),
        ));
    }
    if n < 2 {
        return Err(LabError::data(
            path,
            format!("holds {n} samples: a training and a test set need two at least (data.inputs)"),
        ));
    }
    limits::check_memory(
        "data.inputs",
        "the data set",
        (n as u128).saturating_mul(inputs as u128 + 1),
        limits::MAX_DATA_VALUES,
    )?;
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(LabError::data(
            path,
            format!("input {i} is {}: inputs must be finite (data.inputs)", x[i]),
        ));
    }
    let (targets, task, class_names) = match spec.task {
        CsvTask::Classification => {
            if let Some(bad) = y.iter().find(|v| !(v.fract() == 0.0 && **v >= 0.0)) {
                return Err(LabError::data(
                    &spec.targets,
                    format!(
                        "label {bad} is not a whole number from 0 (data.targets; task: Regression for values)"
                    ),
                ));
            }
            let classes = y.iter().fold(0f32, |m, v| m.max(*v)) as usize + 1;
            if !(2..=MAX_CLASSES).contains(&classes) {
                return Err(LabError::data(
                    &spec.targets,
                    format!("labels make {classes} classes: 2 to {MAX_CLASSES} (data.targets)"),
                ));
            }
            (
                Targets::Labels(y.iter().map(|v| *v as u32).collect()),
                Task::Classification { classes },
                (0..classes).map(|c| c.to_string()).collect(),
            )
        }
        CsvTask::Regression => {
            if y_shape.get(1).is_some_and(|&o| o != 1) {
                return Err(LabError::data(
                    &spec.targets,
                    format!(
                        "targets of shape {y_shape:?}: a regression here predicts one value a sample (data.targets)"
                    ),
                ));
            }
            if let Some(bad) = y.iter().find(|v| !v.is_finite()) {
                return Err(LabError::data(
                    &spec.targets,
                    format!("target {bad} is not finite (data.targets)"),
                ));
            }
            (
                Targets::Values(y),
                Task::Regression { outputs: 1 },
                vec!["y".into()],
            )
        }
    };
    let (train, test) = shuffled_split(x, targets, inputs, spec.test_fraction, spec.seed);
    Ok(super::csv::table_dataset(
        "arrays".into(),
        inputs,
        (task, class_names),
        train,
        test,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::DataSpec;
    use super::*;

    /// An `.npy` file of `descr` and `shape` holding `data`.
    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    fn f4(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn npy_arrays_load_as_a_split_data_set() {
        let dir = tempfile::tempdir().unwrap();
        let x: Vec<f32> = (0..20).map(|i| i as f32 * 0.5).collect();
        let y: Vec<u8> = (0..10u64).flat_map(|i| (i % 2).to_le_bytes()).collect();
        std::fs::write(dir.path().join("x.npy"), npy("<f4", "(10, 2)", &f4(&x))).unwrap();
        std::fs::write(dir.path().join("y.npy"), npy("<i8", "(10,)", &y)).unwrap();
        let path = |n: &str| dir.path().join(n).display().to_string();
        let spec = ArraysSpec {
            inputs: path("x.npy"),
            targets: path("y.npy"),
            ..Default::default()
        };
        let d = DataSpec::Arrays(spec.clone()).load().unwrap();
        assert_eq!(d.inputs, 2);
        assert_eq!(d.outputs(), 2);
        assert_eq!(d.train.len() + d.test.len(), 10);
        assert_eq!(d.test.len(), 2);
        // Each row keeps its label: x = (2i, 2i+1)/2, label i % 2.
        let Targets::Labels(labels) = &d.train.targets else {
            unreachable!()
        };
        for (row, label) in d.train.x.chunks(2).zip(labels) {
            assert_eq!((row[0] as u32) % 2, *label, "{row:?}");
        }
        let regression = DataSpec::Arrays(ArraysSpec {
            task: CsvTask::Regression,
            ..spec
        })
        .load()
        .unwrap();
        assert!(matches!(regression.task, Task::Regression { outputs: 1 }));
    }

    #[test]
    fn bad_arrays_are_errors_naming_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n).display().to_string();
        std::fs::write(path("x.npy"), npy("<f4", "(4, 2)", &f4(&[0.0; 8]))).unwrap();
        std::fs::write(path("y3.npy"), npy("<f4", "(3,)", &f4(&[0.0, 1.0, 1.0]))).unwrap();
        std::fs::write(
            path("half.npy"),
            npy("<f4", "(4,)", &f4(&[0.0, 1.5, 1.0, 0.0])),
        )
        .unwrap();
        std::fs::write(path("cut.npy"), npy("<f4", "(4,)", &f4(&[0.0, 1.0]))).unwrap();
        let load = |targets: &str| {
            DataSpec::Arrays(ArraysSpec {
                inputs: path("x.npy"),
                targets: path(targets),
                ..Default::default()
            })
            .load()
            .unwrap_err()
            .to_string()
        };
        let err = load("y3.npy");
        assert!(
            err.contains("y3.npy") && err.contains("do not match"),
            "{err}"
        );
        let err = load("half.npy");
        assert!(
            err.contains("label 1.5") && err.contains("data.targets"),
            "{err}"
        );
        let err = load("cut.npy");
        assert!(
            err.contains("cut short") && err.contains("data.targets"),
            "{err}"
        );
        let err = DataSpec::Arrays(ArraysSpec {
            inputs: path("x.npy"),
            targets: format!("{}:y", path("x.npy")),
            ..Default::default()
        })
        .load()
        .unwrap_err()
        .to_string();
        assert!(err.contains("x.npy"), "{err}");
    }
}
