//! Real handwritten digits: the UCI 8x8 CSV and MNIST's IDX files.

use super::{
    DataFile, Dataset, DigitsSpec, InputLayout, MnistSpec, Split, Targets, Task, digit_names,
    read_data_file, shuffled_split,
};
use crate::lab::error::{LabError, LabResult};

/// Loads the UCI digits: each line holds 64 values 0..16 and a label 0..9.
pub(super) fn load_digits8x8(spec: &DigitsSpec) -> LabResult<Dataset> {
    let DataFile { path, bytes } = read_data_file(&spec.path)?;
    let text =
        String::from_utf8(bytes).map_err(|_| LabError::data(&path, "not a text (CSV) file"))?;
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 65 {
            return Err(LabError::data(
                &path,
                format!(
                    "line {}: expected 65 fields (64 pixels and a label), found {}",
                    n + 1,
                    fields.len()
                ),
            ));
        }
        for (col, f) in fields[..64].iter().enumerate() {
            let v: f32 = f.parse().map_err(|_| {
                LabError::data(
                    &path,
                    format!("line {}, field {}: `{f}` is not a number", n + 1, col + 1),
                )
            })?;
            if !(0.0..=16.0).contains(&v) {
                return Err(LabError::data(
                    &path,
                    format!(
                        "line {}, field {}: pixel {v} is outside 0..16",
                        n + 1,
                        col + 1
                    ),
                ));
            }
            x.push(v / 16.0);
        }
        let label: u32 = fields[64].parse().ok().filter(|l| *l < 10).ok_or_else(|| {
            LabError::data(
                &path,
                format!(
                    "line {}, field 65: label `{}` is not 0..9",
                    n + 1,
                    fields[64]
                ),
            )
        })?;
        labels.push(label);
    }
    if labels.len() < 2 {
        return Err(LabError::data(&path, "holds fewer than two samples"));
    }
    let (train, test) = shuffled_split(
        x,
        Targets::Labels(labels),
        64,
        spec.test_fraction,
        spec.seed,
    );
    Ok(Dataset {
        name: "digits8x8".into(),
        inputs: 64,
        layout: InputLayout::Image {
            width: 8,
            height: 8,
        },
        task: Task::Classification { classes: 10 },
        class_names: digit_names(10),
        train,
        test,
        train_region: None,
        pde: None,
    })
}

/// Images of an IDX file: (count, rows, cols, pixels scaled to 0..1).
struct IdxImages {
    rows: usize,
    cols: usize,
    pixels: Vec<f32>,
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn read_idx_images(file: &DataFile) -> LabResult<IdxImages> {
    let (path, b) = (&file.path, &file.bytes);
    if b.len() < 16 || be_u32(b, 0) != 0x0000_0803 {
        return Err(LabError::data(
            path,
            "not an IDX image file (expected magic 0x00000803, as in train-images-idx3-ubyte)",
        ));
    }
    let count = be_u32(b, 4) as usize;
    let rows = be_u32(b, 8) as usize;
    let cols = be_u32(b, 12) as usize;
    let need = count
        .checked_mul(rows)
        .and_then(|n| n.checked_mul(cols))
        .and_then(|n| n.checked_add(16))
        .unwrap_or(usize::MAX);
    if b.len() < need {
        return Err(LabError::data(
            path,
            format!(
                "truncated: the header promises {count} images of {rows}x{cols} ({need} bytes) but the file has {}",
                b.len()
            ),
        ));
    }
    Ok(IdxImages {
        rows,
        cols,
        pixels: b[16..need].iter().map(|&p| f32::from(p) / 255.0).collect(),
    })
}

fn read_idx_labels(file: &DataFile) -> LabResult<Vec<u32>> {
    let (path, b) = (&file.path, &file.bytes);
    if b.len() < 8 || be_u32(b, 0) != 0x0000_0801 {
        return Err(LabError::data(
            path,
            "not an IDX label file (expected magic 0x00000801, as in train-labels-idx1-ubyte)",
        ));
    }
    let count = be_u32(b, 4) as usize;
    if b.len() - 8 < count {
        return Err(LabError::data(
            path,
            format!("truncated: the header promises {count} labels"),
        ));
    }
    let labels: Vec<u32> = b[8..8 + count].iter().map(|&l| u32::from(l)).collect();
    if let Some(bad) = labels.iter().find(|&&l| l > 9) {
        return Err(LabError::data(path, format!("label {bad} is not a digit")));
    }
    Ok(labels)
}

/// Reads images and labels and checks that they agree; returns (pixels, labels, side).
fn read_pair(images: &str, labels: &str) -> LabResult<(IdxImages, Vec<u32>)> {
    let ifile = read_data_file(images)?;
    let lfile = read_data_file(labels)?;
    let imgs = read_idx_images(&ifile)?;
    let labs = read_idx_labels(&lfile)?;
    let (ipath, lpath) = (ifile.path, lfile.path);
    let n_img = imgs.pixels.len() / (imgs.rows * imgs.cols).max(1);
    if n_img != labs.len() {
        return Err(LabError::data(
            &lpath,
            format!(
                "holds {} labels but {} holds {n_img} images",
                labs.len(),
                ipath.display()
            ),
        ));
    }
    Ok((imgs, labs))
}

fn take(imgs: &IdxImages, labels: &[u32], range: std::ops::Range<usize>) -> Split {
    let d = imgs.rows * imgs.cols;
    Split {
        x: imgs.pixels[range.start * d..range.end * d].to_vec(),
        targets: Targets::Labels(labels[range].to_vec()),
    }
}

/// Loads MNIST from IDX files; the test set comes after the training set unless
/// separate test files are given.
pub(super) fn load_mnist(spec: &MnistSpec) -> LabResult<Dataset> {
    let (imgs, labels) = read_pair(&spec.images, &spec.labels)?;
    let (train, test, test_dims) = match (&spec.test_images, &spec.test_labels) {
        (Some(ti), Some(tl)) => {
            let (timgs, tlabels) = read_pair(ti, tl)?;
            check_count(&spec.images, labels.len(), spec.train, "data.train")?;
            check_count(ti, tlabels.len(), spec.test, "data.test")?;
            (
                take(&imgs, &labels, 0..spec.train),
                take(&timgs, &tlabels, 0..spec.test),
                (timgs.rows, timgs.cols),
            )
        }
        _ => {
            check_count(
                &spec.images,
                labels.len(),
                spec.train + spec.test,
                "data.train + data.test",
            )?;
            (
                take(&imgs, &labels, 0..spec.train),
                take(&imgs, &labels, spec.train..spec.train + spec.test),
                (imgs.rows, imgs.cols),
            )
        }
    };
    if test_dims != (imgs.rows, imgs.cols) {
        return Err(LabError::setting(
            "data.test_images",
            format!(
                "images are {}x{}, but training images are {}x{}",
                test_dims.0, test_dims.1, imgs.rows, imgs.cols
            ),
        ));
    }
    Ok(Dataset {
        name: "mnist".into(),
        inputs: imgs.rows * imgs.cols,
        layout: InputLayout::Image {
            width: imgs.cols,
            height: imgs.rows,
        },
        task: Task::Classification { classes: 10 },
        class_names: digit_names(10),
        train,
        test,
        train_region: None,
        pde: None,
    })
}

fn check_count(file: &str, have: usize, want: usize, field: &str) -> LabResult<()> {
    if want > have {
        Err(LabError::setting(
            field,
            format!("asks for {want} samples but {file} holds {have}"),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_uncompressed_idx_too() {
        let dir = crate::scratch::Scratch::new("idx");
        let mut img = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        img.extend([0, 255, 128, 0, 255, 255, 255, 255]);
        let lab = vec![0, 0, 8, 1, 0, 0, 0, 2, 7, 3];
        std::fs::write(dir.join("i"), img).unwrap();
        std::fs::write(dir.join("l"), lab).unwrap();
        let spec = MnistSpec {
            images: dir.join("i").to_string_lossy().into(),
            labels: dir.join("l").to_string_lossy().into(),
            train: 1,
            test: 1,
            ..Default::default()
        };
        let d = load_mnist(&spec).unwrap();
        assert_eq!(d.inputs, 4);
        assert_eq!(d.train.x, vec![0.0, 1.0, 128.0 / 255.0, 0.0]);
        assert_eq!(d.test.label(0), Some(3));
    }

    #[test]
    fn wrong_magic_is_reported() {
        let dir = crate::scratch::Scratch::new("idx-bad");
        std::fs::write(dir.join("i"), b"not an idx file at all").unwrap();
        let file = read_data_file(&dir.join("i").to_string_lossy()).unwrap();
        let err = read_idx_images(&file).err().unwrap().to_string();
        assert!(err.contains("not an IDX image file"), "{err}");
    }

    #[test]
    fn an_absurd_image_count_is_an_error_not_a_crash() {
        let mut img = vec![0, 0, 8, 3];
        for n in [u32::MAX, 60_000, 60_000] {
            img.extend(n.to_be_bytes());
        }
        let file = DataFile {
            path: "huge-images-idx3-ubyte".into(),
            bytes: img,
        };
        let err = read_idx_images(&file).err().unwrap().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
