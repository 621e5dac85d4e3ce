//! Data sets ("arenas"): seeded generators and file loaders, each with a train/test split.

mod arrays;
mod csv;
mod digits;
mod drawing;
mod functions;
pub(crate) mod npy;
mod pde;
mod shapes;
mod toy;

pub use drawing::{DrawingStyle, preprocess_drawing};
pub use pde::Operator;

pub use arrays::ArraysSpec;
pub use csv::{CsvSpec, CsvTask};
pub use functions::{Function1d, Function2d};
pub use pde::{Equation1d, Equation2d, Pde1dSpec, Pde2dSpec, PdeSpec, PdeTask};
pub use toy::{CLASS_NAMES, MAX_CLASSES};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::lab::error::{LabError, LabResult};
use crate::lab::rng::{self, Stream};
use crate::lab::scene::limits;

/// What a scene asks for: which data set, and how to make it.
///
/// Generated sets are seeded by `seed` (not by the scene's seed), so that trying
/// another initialisation keeps the same data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataSpec {
    /// Two classes: a disc inside a ring (TensorFlow Playground's "circle").
    Circle(Toy2dSpec),
    /// Two classes by the sign of x·y.
    Xor(Toy2dSpec),
    /// Two Gaussian blobs.
    Gaussians(Toy2dSpec),
    /// Two interleaved spirals.
    Spiral(Toy2dSpec),
    /// Two interleaved half-moons.
    Moons(Toy2dSpec),
    /// 8x8 images of circles and squares (Neural Illumination's task).
    CirclesVsSquares(ShapesSpec),
    /// The UCI 8x8 handwritten digits (1,797 samples).
    Digits8x8(DigitsSpec),
    /// MNIST digits from IDX files (gzipped or not).
    Mnist(MnistSpec),
    /// Regression of a function of one variable.
    Function1d(Function1dSpec),
    /// Regression of a function of two variables.
    Function2d(Function2dSpec),
    /// A differential equation in one variable, learnt from its residual
    /// and boundary values (a physics-informed network).
    Pde1d(Pde1dSpec),
    /// A differential equation on a square, learnt from its residual and
    /// boundary values.
    Pde2d(Pde2dSpec),
    /// Random regression: N(0, 1) inputs and targets (the trainability fractal's task).
    RandomRegression(RandomRegressionSpec),
    /// Your own data: a CSV file with a header and a target column.
    Csv(CsvSpec),
    /// Your own data: numpy arrays of inputs and targets (`.npy`, or arrays
    /// of an `.npz`).
    Arrays(ArraysSpec),
}

/// How many samples: a number, or as many as the network has parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SampleCount {
    /// As many samples as the network has parameters (resolved with the scene).
    Auto,
    /// This many.
    Count(usize),
}

/// Settings of random regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomRegressionSpec {
    /// Inputs per sample.
    pub inputs: usize,
    /// Targets per sample.
    pub outputs: usize,
    /// Training samples.
    pub samples: SampleCount,
    /// Test samples, drawn the same way.
    pub test_samples: usize,
    /// Seed of the samples.
    pub seed: u64,
}

impl Default for RandomRegressionSpec {
    fn default() -> Self {
        RandomRegressionSpec {
            inputs: 16,
            outputs: 1,
            samples: SampleCount::Auto,
            test_samples: 256,
            seed: 0,
        }
    }
}

/// Settings of the 2D point sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Toy2dSpec {
    /// Number of points, train and test together.
    pub samples: usize,
    /// Noise, 0 (clean) to 1 (very noisy).
    pub noise: f32,
    /// Share of the points held out for testing.
    pub test_fraction: f32,
    /// Seed of the points.
    pub seed: u64,
    /// Classes: arms of a spiral or blobs of `Gaussians`, 2 to 6 (the
    /// other sets have two).
    pub classes: usize,
}

impl Default for Toy2dSpec {
    fn default() -> Self {
        Toy2dSpec {
            samples: 600,
            noise: 0.05,
            test_fraction: 0.3,
            seed: 0,
            classes: 2,
        }
    }
}

/// Settings of the circles-vs-squares images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShapesSpec {
    /// Training images.
    pub train: usize,
    /// Test images.
    pub test: usize,
    /// Chance that a pixel is flipped.
    pub noise: f32,
    /// Smallest and largest side of a shape's bounding box, in pixels (3..=8).
    pub sizes: (usize, usize),
    /// Seed of the images.
    pub seed: u64,
}

impl Default for ShapesSpec {
    fn default() -> Self {
        ShapesSpec {
            train: 240,
            test: 40,
            noise: 0.03,
            sizes: (6, 8),
            seed: 0,
        }
    }
}

/// Settings of the UCI 8x8 digits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigitsSpec {
    /// The CSV file (gzipped or not): 64 values 0..16, then the label.
    pub path: String,
    /// Share of the samples held out for testing.
    pub test_fraction: f32,
    /// Seed of the split.
    pub seed: u64,
}

impl Default for DigitsSpec {
    fn default() -> Self {
        DigitsSpec {
            path: "assets/data/optdigits8x8.csv.gz".into(),
            test_fraction: 0.2,
            seed: 0,
        }
    }
}

/// Settings of MNIST: IDX files, and how many samples to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MnistSpec {
    /// IDX image file (`*-images-idx3-ubyte`, gzipped or not).
    pub images: String,
    /// IDX label file (`*-labels-idx1-ubyte`, gzipped or not).
    pub labels: String,
    /// Separate test images; when absent the test set is taken after the training set.
    pub test_images: Option<String>,
    /// Separate test labels, with `test_images`.
    pub test_labels: Option<String>,
    /// Training samples to use.
    pub train: usize,
    /// Test samples to use.
    pub test: usize,
}

impl Default for MnistSpec {
    fn default() -> Self {
        MnistSpec {
            images: "assets/data/mnist10k-images-idx3-ubyte.gz".into(),
            labels: "assets/data/mnist10k-labels-idx1-ubyte.gz".into(),
            test_images: None,
            test_labels: None,
            train: 8000,
            test: 2000,
        }
    }
}

/// Settings of function regression, of one variable ([`Function1dSpec`]) or
/// two ([`Function2dSpec`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    bound(deserialize = "F: Deserialize<'de>, FunctionSpec<F>: Default")
)]
pub struct FunctionSpec<F> {
    /// The target function.
    pub function: F,
    /// Training points, drawn uniformly from `train_range` (each coordinate).
    pub samples: usize,
    /// Test points, evenly spaced over `test_range` (on a grid in 2D).
    pub test_samples: usize,
    /// Where training points come from.
    pub train_range: (f32, f32),
    /// Where test points come from: wider, to measure extrapolation.
    pub test_range: (f32, f32),
    /// Standard deviation of noise added to training targets.
    pub noise: f32,
    /// Seed of the points.
    pub seed: u64,
}

/// Settings of 1D regression.
pub type Function1dSpec = FunctionSpec<Function1d>;
/// Settings of 2D regression (both coordinates share the ranges).
pub type Function2dSpec = FunctionSpec<Function2d>;

impl Default for Function1dSpec {
    fn default() -> Self {
        FunctionSpec {
            function: Function1d::Sin {
                frequency: 1.0,
                amplitude: 1.0,
            },
            samples: 128,
            test_samples: 256,
            train_range: (-std::f32::consts::PI, std::f32::consts::PI),
            test_range: (-2.0 * std::f32::consts::PI, 2.0 * std::f32::consts::PI),
            noise: 0.0,
            seed: 0,
        }
    }
}

impl Default for Function2dSpec {
    fn default() -> Self {
        FunctionSpec {
            function: Function2d::SinCos { fx: 1.0, fy: 1.0 },
            samples: 400,
            test_samples: 900,
            train_range: (-2.0, 2.0),
            test_range: (-3.0, 3.0),
            noise: 0.0,
            seed: 0,
        }
    }
}

impl<F: TargetFunction> FunctionSpec<F> {
    /// Checks the settings, naming the offending field.
    fn validate(&self) -> LabResult<()> {
        at_least(self.samples, 2, "samples")?;
        at_least(self.test_samples, F::MIN_TEST_SAMPLES, "test_samples")?;
        range(self.train_range, "train_range")?;
        range(self.test_range, "test_range")?;
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(LabError::setting(
                "data.noise",
                format!("must be zero or positive, got {}", self.noise),
            ));
        }
        self.function.validate()
    }
}

/// A target function of regression data.
pub trait TargetFunction {
    /// Fewest test points that make a test set.
    const MIN_TEST_SAMPLES: usize;
    /// Checks the function's parameters.
    fn validate(&self) -> LabResult<()>;
}

pub(crate) fn at_least(n: usize, min: usize, field: &str) -> LabResult<()> {
    if n >= min {
        Ok(())
    } else {
        Err(LabError::setting(
            format!("data.{field}"),
            format!("must be at least {min}, got {n}"),
        ))
    }
}

pub(crate) fn range(r: (f32, f32), field: &str) -> LabResult<()> {
    if r.0.is_finite() && r.1.is_finite() && r.0 < r.1 {
        Ok(())
    } else {
        Err(LabError::setting(
            format!("data.{field}"),
            format!("must be (low, high) with low < high, got {r:?}"),
        ))
    }
}

/// What the network must predict.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// Pick one of `classes` labels.
    Classification {
        /// Number of classes.
        classes: usize,
    },
    /// Predict real values.
    Regression {
        /// Number of outputs.
        outputs: usize,
    },
}

/// How the inputs are arranged, so that the app can lay them out and plot them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InputLayout {
    /// Points of a plane, with the plotting range of each axis.
    Plane {
        /// Range of the first coordinate.
        x: (f32, f32),
        /// Range of the second coordinate.
        y: (f32, f32),
    },
    /// A single real input, with its plotting range.
    Line {
        /// Range of the input.
        x: (f32, f32),
    },
    /// A row-major grey image.
    Image {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// A plain vector of features, with no picture to draw.
    Features,
}

/// Targets of a split.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Class labels, one per sample.
    Labels(Vec<u32>),
    /// Real targets, `outputs` per sample, row-major.
    Values(Vec<f32>),
}

/// One side of the split: inputs and targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Inputs, `inputs` per sample, row-major.
    pub x: Vec<f32>,
    /// Targets, one entry per sample.
    pub targets: Targets,
}

impl Split {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match &self.targets {
            Targets::Labels(l) => l.len(),
            Targets::Values(v) => v.len(),
        }
    }

    /// True when the split holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label of sample `i`, for classification.
    pub fn label(&self, i: usize) -> Option<u32> {
        match &self.targets {
            Targets::Labels(l) => l.get(i).copied(),
            Targets::Values(_) => None,
        }
    }
}

/// A loaded data set, ready for training.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Short name, such as `xor` or `mnist`.
    pub name: String,
    /// Number of inputs per sample.
    pub inputs: usize,
    /// How the inputs are arranged.
    pub layout: InputLayout,
    /// Classification or regression.
    pub task: Task,
    /// Names of the classes (classification) or outputs (regression).
    pub class_names: Vec<String>,
    /// Training samples.
    pub train: Split,
    /// Test samples.
    pub test: Split,
    /// For regression: the box training inputs come from, per input.
    /// Test points outside it measure the generalization error.
    pub train_region: Option<Vec<(f32, f32)>>,
    /// For a differential equation: which training points are on the
    /// boundary, and the residual to train. The test targets are its exact solution.
    pub pde: Option<PdeTask>,
}

impl Dataset {
    /// Number of network outputs this data set needs.
    pub fn outputs(&self) -> usize {
        match self.task {
            Task::Classification { classes } => classes,
            Task::Regression { outputs } => outputs,
        }
    }

    /// True for classification tasks.
    pub fn is_classification(&self) -> bool {
        matches!(self.task, Task::Classification { .. })
    }

    /// The input of test sample `i`.
    pub fn test_input(&self, i: usize) -> &[f32] {
        &self.test.x[i * self.inputs..(i + 1) * self.inputs]
    }

    /// True when `x` lies inside the training region (always true for classification).
    pub fn in_train_region(&self, x: &[f32]) -> bool {
        match &self.train_region {
            None => true,
            Some(region) => x
                .iter()
                .zip(region)
                .all(|(v, (lo, hi))| *v >= *lo && *v <= *hi),
        }
    }
}

impl DataSpec {
    /// Names of every data set, in the order of the enum (for error messages and menus).
    pub const NAMES: &'static [&'static str] = &[
        "Circle",
        "Xor",
        "Gaussians",
        "Spiral",
        "Moons",
        "CirclesVsSquares",
        "Digits8x8",
        "Mnist",
        "Function1d",
        "Function2d",
        "Pde1d",
        "Pde2d",
        "RandomRegression",
        "Csv",
        "Arrays",
    ];

    /// The short name of this data set.
    pub fn name(&self) -> &'static str {
        match self {
            DataSpec::Circle(_) => "circle",
            DataSpec::Xor(_) => "xor",
            DataSpec::Gaussians(_) => "gaussians",
            DataSpec::Spiral(_) => "spiral",
            DataSpec::Moons(_) => "moons",
            DataSpec::CirclesVsSquares(_) => "circles-vs-squares",
            DataSpec::Digits8x8(_) => "digits8x8",
            DataSpec::Mnist(_) => "mnist",
            DataSpec::Function1d(_) => "function1d",
            DataSpec::Function2d(_) => "function2d",
            DataSpec::Pde1d(_) => "pde1d",
            DataSpec::Pde2d(_) => "pde2d",
            DataSpec::RandomRegression(_) => "random-regression",
            DataSpec::Csv(_) => "csv",
            DataSpec::Arrays(_) => "arrays",
        }
    }

    /// Upper bounds on the data set's size, known before it is made (a file's
    /// own size bounds what it holds).
    pub fn size(&self) -> DataSize {
        let grid = |n: usize| {
            let side = (n as f64).sqrt().ceil().max(2.0) as u128;
            side.saturating_mul(side)
        };
        let n = |n: usize| n as u128;
        let (inputs, outputs, train, test, fields) = match self {
            DataSpec::Circle(s)
            | DataSpec::Xor(s)
            | DataSpec::Gaussians(s)
            | DataSpec::Spiral(s)
            | DataSpec::Moons(s) => (
                2,
                n(s.classes),
                n(s.samples),
                n(s.samples),
                ("samples", "samples"),
            ),
            DataSpec::CirclesVsSquares(s) => (64, 2, n(s.train), n(s.test), ("train", "test")),
            DataSpec::Digits8x8(_) => (64, 10, 1797, 1797, ("path", "path")),
            DataSpec::Mnist(s) => (784, 10, n(s.train), n(s.test), ("train", "test")),
            DataSpec::Function1d(s) => (
                1,
                1,
                n(s.samples),
                n(s.test_samples),
                ("samples", "test_samples"),
            ),
            DataSpec::Function2d(s) => (
                2,
                1,
                n(s.samples),
                grid(s.test_samples),
                ("samples", "test_samples"),
            ),
            DataSpec::Pde1d(s) => (
                1,
                1,
                n(s.collocation) + 4 * n(s.boundary),
                n(s.test_samples),
                ("collocation", "test_samples"),
            ),
            DataSpec::Pde2d(s) => (
                2,
                1,
                n(s.collocation) + 4 * n(s.boundary),
                grid(s.test_samples),
                ("collocation", "test_samples"),
            ),
            DataSpec::RandomRegression(s) => (
                n(s.inputs),
                n(s.outputs),
                match s.samples {
                    SampleCount::Auto => 0,
                    SampleCount::Count(c) => n(c),
                },
                n(s.test_samples),
                ("samples", "test_samples"),
            ),
            // Known once the file is read: the loader checks the limits, and
            // the network is checked against the loaded shape.
            DataSpec::Csv(_) => (0, 0, 0, 0, ("path", "path")),
            DataSpec::Arrays(_) => (0, 0, 0, 0, ("inputs", "inputs")),
        };
        DataSize {
            inputs,
            outputs,
            train,
            test,
            train_field: fields.0,
            test_field: fields.1,
        }
    }

    /// True when the data set is a regression task.
    pub fn is_regression(&self) -> bool {
        matches!(
            self,
            DataSpec::Csv(CsvSpec {
                task: CsvTask::Regression,
                ..
            }) | DataSpec::Arrays(ArraysSpec {
                task: CsvTask::Regression,
                ..
            }) | DataSpec::Function1d(_)
                | DataSpec::Function2d(_)
                | DataSpec::Pde1d(_)
                | DataSpec::Pde2d(_)
                | DataSpec::RandomRegression(_)
        )
    }

    /// True when the data set is a differential equation (a PINN loss).
    pub fn is_pde(&self) -> bool {
        matches!(self, DataSpec::Pde1d(_) | DataSpec::Pde2d(_))
    }

    /// Checks the settings, naming the offending field.
    pub fn validate(&self) -> LabResult<()> {
        let fraction = |f: f32, field: &str| {
            if f > 0.0 && f < 1.0 {
                Ok(())
            } else {
                Err(LabError::setting(
                    format!("data.{field}"),
                    format!("must be between 0 and 1 (exclusive), got {f}"),
                ))
            }
        };
        match self {
            DataSpec::Circle(s)
            | DataSpec::Xor(s)
            | DataSpec::Gaussians(s)
            | DataSpec::Spiral(s)
            | DataSpec::Moons(s) => {
                at_least(s.samples, 10, "samples")?;
                fraction(s.test_fraction, "test_fraction")?;
                if !(0.0..=1.0).contains(&s.noise) {
                    return Err(LabError::setting("data.noise", "must be between 0 and 1"));
                }
                let many = matches!(self, DataSpec::Spiral(_) | DataSpec::Gaussians(_));
                if many && !(2..=toy::MAX_CLASSES).contains(&s.classes) {
                    return Err(LabError::setting(
                        "data.classes",
                        format!(
                            "a {} has 2 to {} classes, got {}",
                            self.name(),
                            toy::MAX_CLASSES,
                            s.classes
                        ),
                    ));
                }
                if !many && s.classes != 2 {
                    return Err(LabError::setting(
                        "data.classes",
                        format!(
                            "{} has two classes (Spiral and Gaussians take more), got {}",
                            self.name(),
                            s.classes
                        ),
                    ));
                }
            }
            DataSpec::CirclesVsSquares(s) => {
                at_least(s.train, 2, "train")?;
                at_least(s.test, 1, "test")?;
                if !(3 <= s.sizes.0 && s.sizes.0 <= s.sizes.1 && s.sizes.1 <= 8) {
                    return Err(LabError::setting(
                        "data.sizes",
                        format!(
                            "must be (smallest, largest) with 3 <= smallest <= largest <= 8, got {:?}",
                            s.sizes
                        ),
                    ));
                }
                if !(0.0..0.5).contains(&s.noise) {
                    return Err(LabError::setting(
                        "data.noise",
                        "is a pixel flip probability: between 0 and 0.5",
                    ));
                }
            }
            DataSpec::Digits8x8(s) => fraction(s.test_fraction, "test_fraction")?,
            DataSpec::Mnist(s) => {
                at_least(s.train, 1, "train")?;
                at_least(s.test, 1, "test")?;
                if s.test_images.is_some() != s.test_labels.is_some() {
                    return Err(LabError::setting(
                        "data.test_images",
                        "give both test_images and test_labels, or neither",
                    ));
                }
            }
            DataSpec::Function1d(s) => s.validate()?,
            DataSpec::Function2d(s) => s.validate()?,
            DataSpec::Pde1d(s) => s.validate()?,
            DataSpec::Pde2d(s) => s.validate()?,
            DataSpec::RandomRegression(s) => {
                at_least(s.inputs, 1, "inputs")?;
                at_least(s.outputs, 1, "outputs")?;
                at_least(s.test_samples, 1, "test_samples")?;
                if let SampleCount::Count(n) = s.samples {
                    at_least(n, 1, "samples")?;
                }
                let width = limits::MAX_WIDTH as u128;
                limits::check("data.inputs", "inputs", s.inputs as u128, width)?;
                limits::check("data.outputs", "outputs", s.outputs as u128, width)?;
            }
            DataSpec::Csv(s) => {
                fraction(s.test_fraction, "test_fraction")?;
                if s.path.is_empty() {
                    return Err(LabError::setting("data.path", "names no file"));
                }
                if s.target.is_empty() {
                    return Err(LabError::setting(
                        "data.target",
                        "names no column: give the header name of the column to predict",
                    ));
                }
            }
            DataSpec::Arrays(s) => {
                fraction(s.test_fraction, "test_fraction")?;
                for (path, field) in [(&s.inputs, "inputs"), (&s.targets, "targets")] {
                    if path.is_empty() {
                        return Err(LabError::setting(
                            format!("data.{field}"),
                            "names no file: an .npy file, or FILE.npz:NAME",
                        ));
                    }
                }
            }
        }
        self.size().check()
    }

    /// Generates or loads the data set.
    pub fn load(&self) -> LabResult<Dataset> {
        self.validate()?;
        match self {
            DataSpec::Circle(s) => Ok(toy::generate(toy::Kind::Circle, s)),
            DataSpec::Xor(s) => Ok(toy::generate(toy::Kind::Xor, s)),
            DataSpec::Gaussians(s) => Ok(toy::generate(toy::Kind::Gaussians, s)),
            DataSpec::Spiral(s) => Ok(toy::generate(toy::Kind::Spiral, s)),
            DataSpec::Moons(s) => Ok(toy::generate(toy::Kind::Moons, s)),
            DataSpec::CirclesVsSquares(s) => Ok(shapes::generate(s)),
            DataSpec::Digits8x8(s) => digits::load_digits8x8(s),
            DataSpec::Mnist(s) => digits::load_mnist(s),
            DataSpec::Function1d(s) => Ok(functions::generate_1d(s)),
            DataSpec::Function2d(s) => Ok(functions::generate_2d(s)),
            DataSpec::Pde1d(s) => Ok(pde::generate_1d(s)),
            DataSpec::Pde2d(s) => Ok(pde::generate_2d(s)),
            DataSpec::RandomRegression(s) => random_regression(s),
            DataSpec::Csv(s) => csv::load(s),
            DataSpec::Arrays(s) => arrays::load(s),
        }
    }
}

/// Upper bounds on a data set's size (see [`DataSpec::size`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSize {
    /// Numbers per input.
    pub inputs: u128,
    /// Classes, or numbers per target.
    pub outputs: u128,
    /// Training samples at most.
    pub train: u128,
    /// Test samples at most.
    pub test: u128,
    /// The setting that sets `train` (under `data.`).
    pub train_field: &'static str,
    /// The setting that sets `test` (under `data.`).
    pub test_field: &'static str,
}

impl DataSize {
    /// Fails when either split passes the sample or memory limits.
    pub fn check(&self) -> LabResult<()> {
        for (count, field, split) in [
            (self.train, self.train_field, "the training set"),
            (self.test, self.test_field, "the test set"),
        ] {
            let field = format!("data.{field}");
            limits::check(
                &field,
                &format!("samples in {split}"),
                count,
                limits::MAX_SAMPLES,
            )?;
            limits::check_memory(
                &field,
                split,
                count.saturating_mul(self.inputs + self.outputs),
                limits::MAX_DATA_VALUES,
            )?;
        }
        Ok(())
    }
}

/// The data sets bundled into the binary, under the paths scenes name them by.
/// The web build leaves out those it serves beside the page instead
/// ([`FETCHED_BY_THE_PAGE`]).
const BUNDLED: &[(&str, &[u8])] = &[
    #[cfg(not(target_arch = "wasm32"))]
    (
        "assets/data/mnist10k-images-idx3-ubyte.gz",
        include_bytes!("../../../assets/data/mnist10k-images-idx3-ubyte.gz"),
    ),
    #[cfg(not(target_arch = "wasm32"))]
    (
        "assets/data/mnist10k-labels-idx1-ubyte.gz",
        include_bytes!("../../../assets/data/mnist10k-labels-idx1-ubyte.gz"),
    ),
    (
        "assets/data/optdigits8x8.csv.gz",
        include_bytes!("../../../assets/data/optdigits8x8.csv.gz"),
    ),
];

/// The data files that the web build serves beside the page, under the
/// paths scenes name them by, rather than in its `.wasm` (MNIST is 1.6 MB
/// that only MNIST scenes need): the page fetches them and hands them over
/// with [`provide_file`].
pub const FETCHED_BY_THE_PAGE: &[&str] = &[
    "assets/data/mnist10k-images-idx3-ubyte.gz",
    "assets/data/mnist10k-labels-idx1-ubyte.gz",
];

impl DataSpec {
    /// The files this data set reads, as the scene names them (none for a
    /// generated one; an array may name one inside an `.npz`, `FILE:NAME`).
    pub fn files(&self) -> Vec<&str> {
        match self {
            DataSpec::Mnist(m) => vec![m.images.as_str(), m.labels.as_str()],
            DataSpec::Digits8x8(d) => vec![d.path.as_str()],
            DataSpec::Csv(c) => vec![c.path.as_str()],
            DataSpec::Arrays(a) => vec![a.inputs.as_str(), a.targets.as_str()],
            _ => Vec::new(),
        }
    }
}

/// A data file's contents (un-gzipped), and the path that errors name.
#[derive(Debug)]
pub(crate) struct DataFile {
    /// The path as the scene gave it, or the file found.
    pub path: PathBuf,
    /// The bytes, un-gzipped.
    pub bytes: Vec<u8>,
}

/// Files handed over in memory (a page's uploads: it has no file system),
/// by the path a scene names them with.
static PROVIDED: std::sync::Mutex<Vec<(String, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());

/// Makes `bytes` readable as the data file `path` where no file of that
/// path is on disk (in a page, an uploaded CSV: a scene's `Csv(path: ...)`
/// finds it by its name). Replaces what was provided under that path.
pub fn provide_file(path: &str, bytes: Vec<u8>) {
    let path = path.trim_start_matches("./").to_string();
    if let Ok(mut files) = PROVIDED.lock() {
        files.retain(|(p, _)| *p != path);
        files.push((path, bytes));
    }
}

/// Whether a file was provided in memory under `path` ([`provide_file`]).
pub fn is_provided(path: &str) -> bool {
    let path = path.trim_start_matches("./");
    PROVIDED
        .lock()
        .is_ok_and(|files| files.iter().any(|(p, _)| p == path))
}

/// Reads a data file: from disk when it exists there, else one provided in
/// memory ([`provide_file`]), else one of the data sets bundled into the
/// binary under that path (so that the presets work from any folder).
/// Gzipped files are un-gzipped.
pub(crate) fn read_data_file(path: &str) -> LabResult<DataFile> {
    let given = PathBuf::from(path);
    let raw = match std::fs::read(&given) {
        Ok(raw) => raw,
        // A page has no file system: its data sets are uploaded or bundled.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::Unsupported
            ) =>
        {
            let normalised = path.trim_start_matches("./");
            let provided = PROVIDED.lock().ok().and_then(|files| {
                files
                    .iter()
                    .find(|(name, _)| name == normalised)
                    .map(|(_, bytes)| bytes.clone())
            });
            let bundled = || {
                BUNDLED
                    .iter()
                    .find(|(name, _)| *name == normalised)
                    .map(|(_, bytes)| bytes.to_vec())
            };
            match provided.or_else(bundled) {
                Some(bytes) => bytes,
                None if cfg!(target_arch = "wasm32")
                    && FETCHED_BY_THE_PAGE.contains(&normalised) =>
                {
                    return Err(LabError::data(
                        &given,
                        "still on its way to the page (it is fetched beside it): open the scene again in a moment",
                    ));
                }
                None => {
                    let bundled: Vec<&str> = BUNDLED.iter().map(|(n, _)| *n).collect();
                    return Err(LabError::data(
                        &given,
                        format!(
                            "file not found, and no bundled data set has that path (bundled: {})",
                            bundled.join(", ")
                        ),
                    ));
                }
            }
        }
        Err(e) => return Err(LabError::io(&given, "cannot read", e)),
    };
    Ok(DataFile {
        bytes: gunzip_if_gzipped(raw, &given)?,
        path: given,
    })
}

/// Un-gzips `raw` when it starts with the gzip magic.
fn gunzip_if_gzipped(raw: Vec<u8>, path: &Path) -> LabResult<Vec<u8>> {
    use std::io::Read;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| LabError::data(path, format!("bad gzip data: {e}")))?;
    Ok(out)
}

/// N(0, 1) inputs and targets; the test set is a second, independent draw.
fn random_regression(spec: &RandomRegressionSpec) -> LabResult<Dataset> {
    let SampleCount::Count(n) = spec.samples else {
        return Err(LabError::setting(
            "data.samples",
            "Auto is resolved with the scene (as many samples as the network has parameters); load the data through the scene",
        ));
    };
    let mut r = rng::rng(spec.seed, Stream::Data);
    let mut draw = |count: usize| -> Vec<f32> { (0..count).map(|_| rng::normal(&mut r)).collect() };
    let train_x = draw(n * spec.inputs);
    let train_y = draw(n * spec.outputs);
    let test_x = draw(spec.test_samples * spec.inputs);
    let test_y = draw(spec.test_samples * spec.outputs);
    Ok(Dataset {
        name: "random-regression".into(),
        inputs: spec.inputs,
        layout: match spec.inputs {
            1 => InputLayout::Line { x: (-3.0, 3.0) },
            2 => InputLayout::Plane {
                x: (-3.0, 3.0),
                y: (-3.0, 3.0),
            },
            _ => InputLayout::Features,
        },
        task: Task::Regression {
            outputs: spec.outputs,
        },
        class_names: (0..spec.outputs).map(|i| format!("y{i}")).collect(),
        train: Split {
            x: train_x,
            targets: Targets::Values(train_y),
        },
        test: Split {
            x: test_x,
            targets: Targets::Values(test_y),
        },
        // Inputs are unbounded: there is no inside to measure outside of.
        train_region: None,
        pde: None,
    })
}

/// Splits samples into train and test by a seeded shuffle; each sample's
/// target (a label, or one value) goes with it.
pub(crate) fn shuffled_split(
    x: Vec<f32>,
    targets: Targets,
    inputs: usize,
    test_fraction: f32,
    seed: u64,
) -> (Split, Split) {
    use rand::seq::SliceRandom;
    let n = x.len() / inputs.max(1);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng::rng(seed, Stream::Data));
    let n_test = ((n as f32 * test_fraction).round() as usize).clamp(1, n.saturating_sub(1));
    let take = |idx: &[usize]| Split {
        x: idx
            .iter()
            .flat_map(|&i| x[i * inputs..(i + 1) * inputs].iter().copied())
            .collect(),
        targets: match &targets {
            Targets::Labels(l) => Targets::Labels(idx.iter().map(|&i| l[i]).collect()),
            Targets::Values(v) => Targets::Values(idx.iter().map(|&i| v[i]).collect()),
        },
    };
    let (test, train) = order.split_at(n_test);
    (take(train), take(test))
}

/// Names `0`..`n-1`, for digit classes.
pub(crate) fn digit_names(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_generated() -> Vec<DataSpec> {
        vec![
            DataSpec::Circle(Toy2dSpec::default()),
            DataSpec::Xor(Toy2dSpec::default()),
            DataSpec::Gaussians(Toy2dSpec::default()),
            DataSpec::Spiral(Toy2dSpec::default()),
            DataSpec::Moons(Toy2dSpec::default()),
            DataSpec::CirclesVsSquares(ShapesSpec::default()),
            DataSpec::Function1d(Function1dSpec::default()),
            DataSpec::Function2d(Function2dSpec::default()),
        ]
    }

    #[test]
    fn generated_sets_are_seeded_and_well_formed() {
        for spec in all_generated() {
            let a = spec.load().unwrap();
            let b = spec.load().unwrap();
            assert_eq!(a, b, "{} is not reproducible", spec.name());
            for split in [&a.train, &a.test] {
                assert!(!split.is_empty(), "{}", spec.name());
                assert_eq!(split.x.len(), split.len() * a.inputs, "{}", spec.name());
                assert!(split.x.iter().all(|v| v.is_finite()));
                if let Targets::Labels(l) = &split.targets {
                    assert!(l.iter().all(|&c| (c as usize) < a.outputs()));
                }
            }
        }
    }

    #[test]
    fn toy_sets_have_both_classes_in_both_splits() {
        for spec in all_generated().into_iter().filter(|s| !s.is_regression()) {
            let d = spec.load().unwrap();
            for split in [&d.train, &d.test] {
                let Targets::Labels(l) = &split.targets else {
                    unreachable!()
                };
                let ones = l.iter().filter(|&&c| c == 1).count();
                assert!(ones > 0 && ones < l.len(), "{} is one-sided", spec.name());
            }
        }
    }

    #[test]
    fn spirals_and_blobs_take_k_classes_in_equal_shares() {
        for k in 3..=5 {
            for spec in [
                DataSpec::Spiral(Toy2dSpec {
                    classes: k,
                    ..Default::default()
                }),
                DataSpec::Gaussians(Toy2dSpec {
                    classes: k,
                    ..Default::default()
                }),
            ] {
                let d = spec.load().unwrap();
                assert_eq!(d.outputs(), k);
                assert_eq!(d.class_names.len(), k);
                let mut counts = vec![0usize; k];
                for split in [&d.train, &d.test] {
                    let Targets::Labels(l) = &split.targets else {
                        unreachable!()
                    };
                    for &c in l {
                        counts[c as usize] += 1;
                    }
                }
                assert_eq!(counts, vec![600 / k; k], "{} with {k} classes", spec.name());
                // Blobs sit apart: their means differ.
                let mut means = vec![(0.0f32, 0.0f32); k];
                let l = match &d.train.targets {
                    Targets::Labels(l) => l,
                    Targets::Values(_) => unreachable!(),
                };
                for (i, &c) in l.iter().enumerate() {
                    means[c as usize].0 += d.train.x[2 * i];
                    means[c as usize].1 += d.train.x[2 * i + 1];
                }
                if matches!(spec, DataSpec::Gaussians(_)) {
                    let m: Vec<(f32, f32)> = means
                        .iter()
                        .zip(0..)
                        .map(|(m, c)| {
                            let count = l.iter().filter(|&&x| x == c).count() as f32;
                            (m.0 / count, m.1 / count)
                        })
                        .collect();
                    for a in 0..k {
                        for b in a + 1..k {
                            let d2 = (m[a].0 - m[b].0).powi(2) + (m[a].1 - m[b].1).powi(2);
                            assert!(d2 > 0.1, "blobs {a} and {b} overlap: {m:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn two_class_sets_refuse_more_classes_and_many_class_sets_cap_them() {
        let err = DataSpec::Xor(Toy2dSpec {
            classes: 3,
            ..Default::default()
        })
        .load()
        .unwrap_err()
        .to_string();
        assert!(err.contains("data.classes"), "{err}");
        let err = DataSpec::Spiral(Toy2dSpec {
            classes: 7,
            ..Default::default()
        })
        .load()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("data.classes") && err.contains("2 to 6"),
            "{err}"
        );
    }

    #[test]
    fn another_data_seed_gives_other_points() {
        let a = DataSpec::Spiral(Toy2dSpec::default()).load().unwrap();
        let b = DataSpec::Spiral(Toy2dSpec {
            seed: 1,
            ..Default::default()
        })
        .load()
        .unwrap();
        assert_ne!(a.train.x, b.train.x);
    }

    #[test]
    fn digits8x8_loads_the_bundled_file() {
        let d = DataSpec::Digits8x8(DigitsSpec::default()).load().unwrap();
        assert_eq!(d.train.len() + d.test.len(), 1797);
        assert_eq!(d.inputs, 64);
        assert_eq!(d.outputs(), 10);
        assert!(d.train.x.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(
            d.layout,
            InputLayout::Image {
                width: 8,
                height: 8
            }
        );
    }

    #[test]
    fn mnist_loads_the_bundled_subset() {
        let d = DataSpec::Mnist(MnistSpec::default()).load().unwrap();
        assert_eq!(d.train.len(), 8000);
        assert_eq!(d.test.len(), 2000);
        assert_eq!(d.inputs, 784);
        // Real digits: some ink, mostly background.
        let ink = d.train.x.iter().filter(|&&v| v > 0.5).count() as f32 / d.train.x.len() as f32;
        assert!((0.05..0.3).contains(&ink), "ink share {ink}");
    }

    #[test]
    fn missing_mnist_file_names_the_path() {
        let spec = DataSpec::Mnist(MnistSpec {
            images: "no/such/train-images-idx3-ubyte".into(),
            ..Default::default()
        });
        let err = spec.load().unwrap_err().to_string();
        assert!(err.contains("no/such/train-images-idx3-ubyte"), "{err}");
        assert!(err.contains("not found"), "{err}");
    }

    #[test]
    fn bad_settings_name_the_field() {
        let spec = DataSpec::Xor(Toy2dSpec {
            test_fraction: 1.5,
            ..Default::default()
        });
        let err = spec.load().unwrap_err().to_string();
        assert!(err.contains("data.test_fraction"), "{err}");
    }

    #[test]
    fn regression_test_range_is_wider_than_training() {
        let d = DataSpec::Function1d(Function1dSpec::default())
            .load()
            .unwrap();
        let outside = (0..d.test.len())
            .filter(|&i| !d.in_train_region(d.test_input(i)))
            .count();
        assert!(outside > d.test.len() / 4, "{outside} test points outside");
        assert!((0..d.train.len()).all(|i| d.in_train_region(&d.train.x[i..i + 1])));
    }
}
