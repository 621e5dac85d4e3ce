//! The lab: data sets, networks, training, frames and run directories. No Bevy here.

pub mod data;
pub mod error;
pub mod film;
pub mod frame;
pub mod lesson;
pub mod model;
pub mod record;
pub mod replay;
pub mod rng;
pub mod runner;
pub mod scene;
pub mod train;

pub use error::{LabError, LabResult};
pub use frame::{Frame, LayerFrame, Metrics, Probe, Topology};
pub use runner::{TrainerCommand, TrainerEvent, TrainerHandle};
pub use scene::Scene;
pub use train::{Evaluation, StepOutcome, Trainer};

/// The backend the lab's own tests train on: burn's CPU backend with autodiff.
#[cfg(test)]
pub(crate) type TestBackend = burn::backend::Autodiff<burn::backend::Flex>;

#[cfg(test)]
mod tests {
    /// The house rule: the lab trains without Bevy, so it can run headless anywhere.
    #[test]
    fn the_lab_never_imports_bevy() {
        fn visit(dir: &std::path::Path, offenders: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    visit(&path, offenders);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    // Built at run time so that this check does not flag itself.
                    let path_use = ["bevy", "::"].concat();
                    let crate_use = ["use ", "bevy"].concat();
                    if text.contains(&path_use) || text.contains(&crate_use) {
                        offenders.push(path.display().to_string());
                    }
                }
            }
        }
        let mut offenders = Vec::new();
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lab"),
            &mut offenders,
        );
        assert!(offenders.is_empty(), "Bevy used in the lab: {offenders:?}");
    }
}
