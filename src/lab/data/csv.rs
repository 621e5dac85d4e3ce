//! Your own data: a CSV file with a header, one column the target, the
//! others numeric features.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{DataFile, Dataset, InputLayout, Split, Targets, Task, read_data_file, shuffled_split};
use crate::lab::error::{LabError, LabResult};
use crate::lab::scene::limits;

/// What a CSV file's target column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CsvTask {
    /// Class labels (any text; each distinct value is a class).
    #[default]
    Classification,
    /// A real number to predict.
    Regression,
}

/// Settings of a CSV data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvSpec {
    /// The file (gzipped or not). Its first line names the columns.
    pub path: String,
    /// The column to predict; every other column is an input.
    pub target: String,
    /// Whether the target is a class or a number.
    pub task: CsvTask,
    /// Share of the rows held out for testing.
    pub test_fraction: f32,
    /// Scale each input to mean 0 and standard deviation 1 (statistics of
    /// the training rows, applied to both splits).
    pub normalize: bool,
    /// Drop rows with a missing value (empty, `NA`, `NaN`, `?`) instead of
    /// failing on the first one.
    pub drop_missing: bool,
    /// Seed of the split.
    pub seed: u64,
}

impl Default for CsvSpec {
    fn default() -> Self {
        CsvSpec {
            path: String::new(),
            target: String::new(),
            task: CsvTask::Classification,
            test_fraction: 0.2,
            normalize: true,
            drop_missing: false,
            seed: 0,
        }
    }
}

/// The most classes a CSV target may have.
pub(super) const MAX_CSV_CLASSES: usize = 1000;

/// True for the spellings of a missing value.
fn is_missing(field: &str) -> bool {
    matches!(
        field.to_ascii_lowercase().as_str(),
        "" | "na" | "n/a" | "nan" | "null" | "?"
    )
}

/// A CSV file's rows as read: its column names, and per usable row its
/// inputs (appended to `x`) and its target's text, with the line the row
/// starts on.
struct Rows {
    columns: Vec<String>,
    x: Vec<f32>,
    targets: Vec<(u64, String)>,
}

/// Loads a CSV data set; errors name the file, the row (the file's line
/// number) and the column. Fields may be quoted, as pandas and spreadsheets
/// write them (a quoted field may hold commas).
pub(super) fn load(spec: &CsvSpec) -> LabResult<Dataset> {
    let DataFile { path, bytes } = read_data_file(&spec.path)?;
    let rows = read_rows(&path, &bytes, spec)?;
    let inputs = rows.columns.len() - 1;
    let n = rows.targets.len();
    if n < 2 {
        return Err(LabError::data(
            &path,
            format!("holds {n} usable rows: a training and a test set need two at least"),
        ));
    }
    limits::check_memory(
        "data.path",
        "the data set",
        (n as u128).saturating_mul(inputs as u128 + 1),
        limits::MAX_DATA_VALUES,
    )?;
    let (targets, task, class_names) = match spec.task {
        CsvTask::Classification => classes(&path, spec, &rows.targets)?,
        CsvTask::Regression => values(&path, spec, &rows.targets)?,
    };
    let (mut train, mut test) =
        shuffled_split(rows.x, targets, inputs, spec.test_fraction, spec.seed);
    if spec.normalize {
        normalize(&mut train, &mut test, inputs);
    }
    let name = Path::new(&spec.path)
        .file_name()
        .and_then(|f| f.to_str())
        .map(|f| f.trim_end_matches(".gz").trim_end_matches(".csv"))
        .unwrap_or("csv")
        .to_string();
    Ok(table_dataset(
        name,
        inputs,
        (task, class_names),
        train,
        test,
    ))
}

/// The error of the `csv` reader, in the file's terms: the row (its line)
/// and what is wrong with it.
fn csv_error(path: &Path, e: &csv::Error, lines: &mut LineCounter<'_>) -> LabError {
    let mut line = |pos: &Option<csv::Position>| lines.line_of(pos.as_ref());
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => LabError::data(
            path,
            format!(
                "row {}: has {len} fields, the header {expected_len}",
                line(pos)
            ),
        ),
        csv::ErrorKind::Utf8 { pos, err } => LabError::data(
            path,
            format!(
                "row {}: field {} is not UTF-8 text",
                line(pos),
                err.field() + 1
            ),
        ),
        _ => LabError::data(path, format!("cannot be read as CSV: {e}")),
    }
}

/// The file's line of each record, counted from its byte offset: the `csv`
/// reader's own line numbers fall one short after a CRLF line end (as
/// spreadsheets write them). Records come in order, so counting goes on
/// from the last one.
struct LineCounter<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
}

impl LineCounter<'_> {
    /// The line (from 1) of the record at `position`: the first line at or
    /// after its offset that is not a line end.
    fn line_of(&mut self, position: Option<&csv::Position>) -> u64 {
        let mut to = position
            .map_or(0, |p| p.byte() as usize)
            .min(self.bytes.len());
        while to < self.bytes.len() && matches!(self.bytes[to], b'\r' | b'\n') {
            to += 1;
        }
        if to > self.at {
            self.line += self.bytes[self.at..to]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.at = to;
        }
        self.line
    }
}

/// Reads the header and every row: inputs must be finite numbers; a row
/// with a missing value fails (or is dropped with `drop_missing`).
fn read_rows(path: &Path, bytes: &[u8], spec: &CsvSpec) -> LabResult<Rows> {
    let bad = |line: u64, message: String| LabError::data(path, format!("row {line}: {message}"));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut lines = LineCounter {
        bytes,
        at: 0,
        line: 1,
    };
    let header = reader
        .headers()
        .map_err(|e| csv_error(path, &e, &mut lines))?
        .clone();
    let header_line = lines.line_of(header.position());
    let columns: Vec<String> = header.iter().map(str::to_string).collect();
    if columns.is_empty() || columns.iter().all(String::is_empty) {
        return Err(LabError::data(path, "is empty: it needs a header line"));
    }
    limits::check(
        "data.path",
        "columns",
        columns.len() as u128,
        limits::MAX_WIDTH as u128 + 1,
    )?;
    if let Some(i) = columns.iter().position(String::is_empty) {
        return Err(bad(
            header_line,
            format!("column {} has no name in the header", i + 1),
        ));
    }
    let Some(target) = columns.iter().position(|c| *c == spec.target) else {
        return Err(LabError::data(
            path,
            format!(
                "has no column `{}` (data.target) in its header; its columns: {}",
                spec.target,
                columns.join(", ")
            ),
        ));
    };
    if columns.len() < 2 {
        return Err(bad(
            header_line,
            "needs an input column besides the target".into(),
        ));
    }
    let mut rows = Rows {
        columns,
        x: Vec::new(),
        targets: Vec::new(),
    };
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| csv_error(path, &e, &mut lines))?
    {
        let line = lines.line_of(record.position());
        if rows.targets.len() as u128 >= limits::MAX_SAMPLES {
            limits::check(
                "data.path",
                "rows",
                rows.targets.len() as u128 + 1,
                limits::MAX_SAMPLES,
            )?;
        }
        let start = rows.x.len();
        let mut missing = None;
        for (c, field) in record.iter().enumerate() {
            if is_missing(field) {
                missing = Some(c);
                break;
            }
            if c == target {
                continue;
            }
            let name = &rows.columns[c];
            let v: f32 = field
                .parse()
                .map_err(|_| bad(line, format!("column `{name}`: `{field}` is not a number")))?;
            if !v.is_finite() {
                return Err(bad(
                    line,
                    format!("column `{name}`: {field} is not a finite number"),
                ));
            }
            rows.x.push(v);
        }
        if let Some(c) = missing {
            rows.x.truncate(start);
            if spec.drop_missing {
                continue;
            }
            return Err(bad(
                line,
                format!(
                    "column `{}`: missing value (set data.drop_missing: true to skip such rows)",
                    rows.columns[c]
                ),
            ));
        }
        let text = record.get(target).unwrap_or_default().to_string();
        rows.targets.push((line, text));
    }
    Ok(rows)
}

/// Each row's class: every distinct target text is a class, numeric labels
/// in numeric order (2 before 10), others by text.
fn classes(
    path: &Path,
    spec: &CsvSpec,
    raw: &[(u64, String)],
) -> LabResult<(Targets, Task, Vec<String>)> {
    let mut names: Vec<&str> = raw.iter().map(|(_, t)| t.as_str()).collect();
    names.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    });
    names.dedup();
    if names.len() < 2 {
        return Err(LabError::data(
            path,
            format!(
                "column `{}` (data.target) holds one class only: {}",
                spec.target,
                names.first().copied().unwrap_or("")
            ),
        ));
    }
    if names.len() > MAX_CSV_CLASSES {
        return Err(LabError::data(
            path,
            format!(
                "column `{}` (data.target) holds {} distinct values, over the limit of {MAX_CSV_CLASSES} classes; is it a number (task: Regression)?",
                spec.target,
                names.len()
            ),
        ));
    }
    let index: std::collections::HashMap<&str, u32> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, i as u32))
        .collect();
    let labels: Vec<u32> = raw
        .iter()
        .map(|(_, t)| index.get(t.as_str()).copied().unwrap_or(0))
        .collect();
    let classes = names.len();
    Ok((
        Targets::Labels(labels),
        Task::Classification { classes },
        names.iter().map(|n| n.to_string()).collect(),
    ))
}

/// Each row's target as a number (a regression), naming the row that is not one.
fn values(
    path: &Path,
    spec: &CsvSpec,
    raw: &[(u64, String)],
) -> LabResult<(Targets, Task, Vec<String>)> {
    let mut values = Vec::with_capacity(raw.len());
    for (line, t) in raw {
        let v: f32 = t.parse().ok().filter(|v: &f32| v.is_finite()).ok_or_else(|| {
            LabError::data(
                path,
                format!(
                    "row {line}: column `{}` (data.target): `{t}` is not a number (task: Regression)",
                    spec.target
                ),
            )
        })?;
        values.push(v);
    }
    Ok((
        Targets::Values(values),
        Task::Regression { outputs: 1 },
        vec![spec.target.clone()],
    ))
}

/// Scales each input to the training rows' mean 0 and standard deviation 1
/// (a constant column is only centred).
fn normalize(train: &mut Split, test: &mut Split, inputs: usize) {
    let n = (train.x.len() / inputs.max(1)).max(1) as f64;
    for c in 0..inputs {
        let column = || {
            train
                .x
                .iter()
                .skip(c)
                .step_by(inputs)
                .map(|&v| f64::from(v))
        };
        let mean = column().sum::<f64>() / n;
        let var = column().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let std = if var > 0.0 { var.sqrt() } else { 1.0 };
        for split in [&mut *train, &mut *test] {
            for v in split.x.iter_mut().skip(c).step_by(inputs) {
                *v = ((f64::from(*v) - mean) / std) as f32;
            }
        }
    }
}

/// A data set of rows of `inputs` values already split, laid out as a line
/// or a plane spanning both splits (with a margin), else as plain features.
pub(super) fn table_dataset(
    name: String,
    inputs: usize,
    (task, class_names): (Task, Vec<String>),
    train: Split,
    test: Split,
) -> Dataset {
    let layout = match inputs {
        1 => InputLayout::Line {
            x: padded_range(&train.x, &test.x, 1, 0),
        },
        2 => InputLayout::Plane {
            x: padded_range(&train.x, &test.x, 2, 0),
            y: padded_range(&train.x, &test.x, 2, 1),
        },
        _ => InputLayout::Features,
    };
    Dataset {
        name,
        inputs,
        layout,
        task,
        class_names,
        train,
        test,
        train_region: None,
        pde: None,
    }
}

/// Input `c`'s range over both splits, widened by a tenth on each side (so
/// that points do not sit on the edge of a plot).
fn padded_range(train: &[f32], test: &[f32], inputs: usize, c: usize) -> (f32, f32) {
    let values = || {
        train
            .iter()
            .skip(c)
            .step_by(inputs)
            .chain(test.iter().skip(c).step_by(inputs))
            .copied()
    };
    let lo = values().fold(f32::INFINITY, f32::min);
    let hi = values().fold(f32::NEG_INFINITY, f32::max);
    let pad = ((hi - lo) * 0.1).max(1e-3);
    (lo - pad, hi + pad)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_csv_provided_in_memory_is_read_by_the_name_its_scene_gives() {
        let name = "uploaded-in-a-page/points.csv";
        let mut text = String::from("x,y,side\n");
        for i in 0..40 {
            let x = i as f32 / 10.0 - 2.0;
            text.push_str(&format!(
                "{x},{},{}\n",
                -x,
                if x < 0.0 { "left" } else { "right" }
            ));
        }
        crate::lab::data::provide_file(&format!("./{name}"), text.into_bytes());
        let scene = crate::lab::Scene::parse(
            &format!("Scene(data: Csv(path: \"{name}\", target: \"side\", task: Classification))"),
            std::path::Path::new("uploaded.ron"),
        )
        .unwrap();
        let data = scene.load_data().unwrap();
        assert_eq!(data.train.len() + data.test.len(), 40);
        // Nothing on disk or bundled has that name: without it, a clear error.
        let missing = crate::lab::Scene::parse(
            "Scene(data: Csv(path: \"not-uploaded.csv\", target: \"side\", task: Classification))",
            std::path::Path::new("uploaded.ron"),
        )
        .unwrap()
        .load_data()
        .unwrap_err()
        .to_string();
        assert!(missing.contains("not-uploaded.csv"), "{missing}");
    }

    use super::*;
    use crate::lab::data::DataSpec;

    /// Writes `text` to a fresh CSV file and returns its spec, its path and
    /// the scratch folder that holds it (removed when dropped).
    fn csv(
        name: &str,
        text: &str,
        target: &str,
        task: CsvTask,
    ) -> (CsvSpec, std::path::PathBuf, crate::scratch::Scratch) {
        let dir = crate::scratch::Scratch::new("csv");
        let path = dir.join(format!("{name}.csv"));
        std::fs::write(&path, text).unwrap();
        (
            CsvSpec {
                path: path.to_string_lossy().into_owned(),
                target: target.into(),
                task,
                ..Default::default()
            },
            path,
            dir,
        )
    }

    fn load_err(spec: CsvSpec) -> String {
        DataSpec::Csv(spec).load().unwrap_err().to_string()
    }

    #[test]
    fn a_labelled_csv_loads_with_its_classes_named_and_inputs_normalised() {
        let mut text = String::from("x, y ,species\n");
        for i in 0..50 {
            let (x, y) = (i as f32 * 0.1, 10.0 + (i % 7) as f32);
            let label = ["setosa", "virginica", "versicolor"][i % 3];
            text.push_str(&format!("{x},{y},\"{label}\"\n"));
        }
        let (spec, _, _dir) = csv("labelled", &text, "species", CsvTask::Classification);
        let d = DataSpec::Csv(spec.clone()).load().unwrap();
        assert_eq!(d.inputs, 2);
        assert_eq!(d.outputs(), 3);
        assert_eq!(d.class_names, ["setosa", "versicolor", "virginica"]);
        assert_eq!(d.train.len() + d.test.len(), 50);
        assert_eq!(d.test.len(), 10);
        assert!(
            matches!(d.layout, InputLayout::Plane { .. }),
            "2D: the boundary view"
        );
        // Normalised on the training rows: mean 0, standard deviation 1.
        let n = d.train.len() as f32;
        for c in 0..2 {
            let col: Vec<f32> = d.train.x.iter().skip(c).step_by(2).copied().collect();
            let mean = col.iter().sum::<f32>() / n;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
            assert!(
                mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
                "{mean} {var}"
            );
        }
        // The same file and seed give the same split; labels follow rows.
        assert_eq!(DataSpec::Csv(spec).load().unwrap(), d);
    }

    #[test]
    fn a_missing_value_fails_naming_the_row_and_column_or_drops_the_row() {
        let text = "a,b,label\n1,2,0\n3,4,1\n5,,0\n7,8,1\n9,10,0\n";
        let (spec, path, _dir) = csv("missing", text, "label", CsvTask::Classification);
        let err = load_err(spec.clone());
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("row 4") && err.contains("column `b`"), "{err}");
        assert!(err.contains("missing value"), "{err}");
        let d = DataSpec::Csv(CsvSpec {
            drop_missing: true,
            ..spec
        })
        .load()
        .unwrap();
        assert_eq!(d.train.len() + d.test.len(), 4);
    }

    #[test]
    fn bad_files_name_the_row_column_or_field() {
        let (spec, _, _dir) = csv(
            "text",
            "a,b,y\n1,2,0\n1,red,1\n",
            "y",
            CsvTask::Classification,
        );
        let err = load_err(spec);
        assert!(
            err.contains("row 3") && err.contains("column `b`") && err.contains("`red`"),
            "{err}"
        );
        let (spec, _, _dir) = csv("short", "a,b,y\n1,2,0\n1,2\n", "y", CsvTask::Classification);
        let err = load_err(spec);
        assert!(err.contains("row 3") && err.contains("2 fields"), "{err}");
        let (spec, _, _dir) = csv("target", "a,b,y\n1,2,0\n", "label", CsvTask::Classification);
        let err = load_err(spec);
        assert!(
            err.contains("no column `label`") && err.contains("a, b, y"),
            "{err}"
        );
        let (spec, _, _dir) = csv("one", "a,y\n1,0\n2,0\n3,0\n", "y", CsvTask::Classification);
        assert!(load_err(spec).contains("one class"));
        let (spec, _, _dir) = csv("reg", "a,y\n1,0.5\n2,high\n3,1\n", "y", CsvTask::Regression);
        let err = load_err(spec);
        assert!(
            err.contains("row 3") && err.contains("`high` is not a number"),
            "{err}"
        );
        let (spec, _, _dir) = csv("empty", "", "y", CsvTask::Regression);
        assert!(load_err(spec).contains("header"));
        let err = load_err(CsvSpec {
            path: "no/such/file.csv".into(),
            target: "y".into(),
            ..Default::default()
        });
        assert!(
            err.contains("no/such/file.csv") && err.contains("not found"),
            "{err}"
        );
    }

    #[test]
    fn quoted_fields_read_as_pandas_and_spreadsheets_write_them() {
        // pandas quotes a field holding a comma, spreadsheets quote text and
        // double a quote inside one, and save CRLF lines and a blank last line.
        let mut text = String::from("\"width, cm\",height,label\r\n");
        for i in 0..30 {
            let label = ["\"Smith, J\"", "plain", "\"say \"\"hi\"\"\""][i % 3];
            text.push_str(&format!("\"{}\",{},{label}\r\n", i as f32 * 0.5, i % 4));
        }
        text.push_str("\r\n");
        let (spec, _, _dir) = csv("quoted", &text, "label", CsvTask::Classification);
        let d = DataSpec::Csv(CsvSpec {
            normalize: false,
            ..spec.clone()
        })
        .load()
        .unwrap();
        assert_eq!(d.inputs, 2);
        assert_eq!(d.class_names, ["Smith, J", "plain", "say \"hi\""]);
        assert_eq!(d.train.len() + d.test.len(), 30);
        let mut widths: Vec<f32> = d
            .train
            .x
            .iter()
            .chain(&d.test.x)
            .step_by(2)
            .copied()
            .collect();
        widths.sort_by(f32::total_cmp);
        let expected: Vec<f32> = (0..30).map(|i| i as f32 * 0.5).collect();
        assert_eq!(widths, expected, "quoted numbers are numbers");
        // A quoted comma in a number column is named with its row and column.
        let bad = text.replacen("\"1\",", "\"1,5\",", 1);
        let (spec, _, _dir) = csv("quoted-bad", &bad, "label", CsvTask::Classification);
        let err = load_err(spec);
        assert!(
            err.contains("row 4") && err.contains("column `width, cm`") && err.contains("`1,5`"),
            "{err}"
        );
        // So is a short row, on its line whatever the line ends.
        let short = text.replacen("\"1\",2,", "\"1\",", 1);
        let (spec, _, _dir) = csv("quoted-short", &short, "label", CsvTask::Classification);
        let err = load_err(spec);
        assert!(err.contains("row 4: has 2 fields, the header 3"), "{err}");
    }

    #[test]
    fn a_one_input_regression_gets_the_curve_view() {
        let mut text = String::from("x,y\n");
        for i in 0..40 {
            let x = i as f32 / 10.0;
            text.push_str(&format!("{x},{}\n", x.sin()));
        }
        let (spec, _, _dir) = csv("curve", &text, "y", CsvTask::Regression);
        let d = DataSpec::Csv(CsvSpec {
            normalize: false,
            ..spec
        })
        .load()
        .unwrap();
        assert!(matches!(d.layout, InputLayout::Line { .. }));
        assert_eq!(d.outputs(), 1);
        let Targets::Values(v) = &d.train.targets else {
            panic!("regression targets")
        };
        // Targets follow their rows through the shuffle.
        for (x, y) in d.train.x.iter().zip(v) {
            assert!((x.sin() - y).abs() < 1e-5);
        }
    }
}
