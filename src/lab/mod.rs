//! The lab: data sets, networks, training, frames and run directories. No Bevy
//! here: the headless build (`--no-default-features`) compiles the lab alone.

pub mod analysis;
pub mod clock;
pub mod compare;
pub mod data;
mod error;
pub mod frame;
pub mod model;
pub mod net;
pub mod record;
mod rng;
pub mod runner;
pub mod scene;
pub mod stream;
pub mod sweep;
pub mod train;

pub use error::{LabError, LabResult};
pub use frame::{Frame, LayerFrame, Metrics, Probe, RunStatus, Topology};
pub use runner::{TrainerCommand, TrainerEvent, TrainerHandle};
pub use scene::Scene;
pub use train::{StepOutcome, Trainer};

/// Where networks train (`--device` of `nnm train` and `nnm sweep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Device {
    /// The CPU: burn's flex backend for one network, the batched kernel
    /// ([`sweep::kernel`]) on every core for a sweep.
    #[default]
    Cpu,
    /// burn's wgpu backend: a GPU through Vulkan, Metal or DX12.
    Wgpu,
}

/// The backend `nnm` trains on: burn's CPU backend (`flex`) with autodiff.
pub type CpuBackend = burn::backend::Autodiff<burn::backend::Flex>;

/// The GPU backend (`--device wgpu`): burn's wgpu backend with autodiff.
#[cfg(feature = "gpu")]
pub type GpuBackend = burn::backend::Autodiff<burn::backend::Wgpu>;

/// A number as `nnm` prints it: `decimals` places, or the shortest exact text
/// with `None`; missing and NaN values as `nan`, infinities as `inf` and `-inf`.
pub fn format_value(v: Option<f32>, decimals: Option<usize>) -> String {
    match v {
        None => "nan".into(),
        Some(v) if v.is_nan() => "nan".into(),
        Some(v) if v.is_infinite() => if v > 0.0 { "inf" } else { "-inf" }.into(),
        Some(v) => match decimals {
            Some(d) => format!("{v:.d$}"),
            None => v.to_string(),
        },
    }
}

/// Peak resident memory of this process so far, in MiB (Linux; NaN elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::format_value;

    #[test]
    fn values_print_the_same_everywhere() {
        assert_eq!(format_value(Some(0.5), Some(3)), "0.500");
        assert_eq!(format_value(Some(0.1), None), "0.1");
        assert_eq!(format_value(None, Some(2)), "nan");
        assert_eq!(format_value(Some(f32::NAN), None), "nan");
        assert_eq!(format_value(Some(f32::NEG_INFINITY), Some(4)), "-inf");
    }
}
