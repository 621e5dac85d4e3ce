//! Running training: the session (trainer, run directory, evaluation
//! schedule), the protocol the app speaks with a frame source, the handle that
//! starts and stops its thread, and the trainer thread itself.

#[cfg(not(target_arch = "wasm32"))]
mod connect;
#[cfg(target_arch = "wasm32")]
mod connect_page;
mod follow;
mod handle;
#[cfg(not(target_arch = "wasm32"))]
mod listen;
mod protocol;
mod replay;
mod session;
mod thread;

pub use replay::spawn_replay;

pub use handle::{Pump, ThreadEnds, TrainerHandle};
#[cfg(not(target_arch = "wasm32"))]
pub use listen::ListenOptions;
pub use protocol::{Driver, RunInfo, Speed, TrainerCommand, TrainerEvent};
pub use session::{Advance, CHECKPOINTS_DIR, Session, Streamed, checkpoints, read_checkpoint};
pub use thread::RunnerOptions;

#[cfg(test)]
mod tests;
