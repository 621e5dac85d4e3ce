//! Non-linearities: of the hidden layers, on tensors and in double precision, and of the output.

use burn::tensor::{Tensor, activation, backend::Backend};
use serde::{Deserialize, Serialize};

/// The non-linearity of the hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Activation {
    /// max(0, z).
    Relu,
    /// tanh(z).
    Tanh,
    /// 1 / (1 + e^-z).
    Sigmoid,
    /// z · Φ(z), the exact (erf) form.
    Gelu,
    /// z: no non-linearity.
    Linear,
}

impl Activation {
    /// Every activation, for menus and error messages.
    pub const ALL: [Activation; 5] = [
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
        Activation::Linear,
    ];

    /// Applies the activation to a tensor.
    pub fn apply<B: Backend, const D: usize>(self, z: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Activation::Relu => activation::relu(z),
            Activation::Tanh => activation::tanh(z),
            Activation::Sigmoid => activation::sigmoid(z),
            Activation::Gelu => activation::gelu(z),
            Activation::Linear => z,
        }
    }

    /// The first and second derivatives at `z`, as tensors: what the input
    /// derivatives of a network (PINN losses) are made of.
    ///
    /// # Shapes
    /// - `z`: any; both outputs have its shape
    pub fn derivatives<B: Backend, const D: usize>(
        self,
        z: Tensor<B, D>,
    ) -> (Tensor<B, D>, Tensor<B, D>) {
        match self {
            Activation::Relu => {
                let step = z.clone().greater_elem(0.0).float();
                (step, z.zeros_like())
            }
            Activation::Tanh => {
                let t = activation::tanh(z);
                let d1 = t.clone().powi_scalar(2).neg().add_scalar(1.0);
                let d2 = t.mul(d1.clone()).mul_scalar(-2.0);
                (d1, d2)
            }
            Activation::Sigmoid => {
                let s = activation::sigmoid(z);
                let d1 = s.clone().mul(s.clone().neg().add_scalar(1.0));
                let d2 = d1.clone().mul(s.mul_scalar(-2.0).add_scalar(1.0));
                (d1, d2)
            }
            Activation::Gelu => {
                // Φ(z) + z·φ(z), and φ(z)·(2 − z²).
                let pdf = z
                    .clone()
                    .powi_scalar(2)
                    .mul_scalar(-0.5)
                    .exp()
                    .mul_scalar(1.0 / (2.0 * std::f64::consts::PI).sqrt());
                let cdf = z
                    .clone()
                    .mul_scalar(std::f64::consts::FRAC_1_SQRT_2)
                    .erf()
                    .add_scalar(1.0)
                    .mul_scalar(0.5);
                let d1 = cdf + z.clone().mul(pdf.clone());
                let d2 = pdf.mul(z.powi_scalar(2).neg().add_scalar(2.0));
                (d1, d2)
            }
            Activation::Linear => (z.ones_like(), z.zeros_like()),
        }
    }

    /// The second derivative at `z`, in double precision.
    pub fn second_derivative(self, z: f64) -> f64 {
        match self {
            Activation::Relu | Activation::Linear => 0.0,
            Activation::Tanh => {
                let t = z.tanh();
                -2.0 * t * (1.0 - t * t)
            }
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-z).exp());
                s * (1.0 - s) * (1.0 - 2.0 * s)
            }
            Activation::Gelu => {
                let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
                pdf * (2.0 - z * z)
            }
        }
    }

    /// The activation of one value, in double precision.
    pub fn eval(self, z: f64) -> f64 {
        match self {
            Activation::Relu => z.max(0.0),
            Activation::Tanh => z.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Gelu => 0.5 * z * (1.0 + libm::erf(z / std::f64::consts::SQRT_2)),
            Activation::Linear => z,
        }
    }

    /// The derivative at `z`, in double precision.
    pub fn derivative(self, z: f64) -> f64 {
        match self {
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Tanh => 1.0 - z.tanh().powi(2),
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-z).exp());
                s * (1.0 - s)
            }
            Activation::Gelu => {
                let cdf = 0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
                let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
                cdf + z * pdf
            }
            Activation::Linear => 1.0,
        }
    }

    /// The activation named `name` (its [`Activation::label`], any case); the
    /// error lists the names there are.
    pub fn from_label(name: &str) -> Result<Activation, String> {
        Activation::ALL
            .into_iter()
            .find(|a| a.label().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                let known: Vec<&str> = Activation::ALL.iter().map(|a| a.label()).collect();
                format!("unknown `{name}` (one of {})", known.join(", "))
            })
    }

    /// Lower-case name, as shown in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Gelu => "gelu",
            Activation::Linear => "linear",
        }
    }
}

/// What the last layer does with its pre-activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutputKind {
    /// Class probabilities.
    Softmax,
    /// Raw values (regression).
    Linear,
}
