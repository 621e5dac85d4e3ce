//! Work done beside the frames: on a thread of its own on the desktop, at once in a page (which has no threads).

use crossbeam_channel::Receiver;

/// Runs `job` beside the frames; its result arrives on the channel returned
/// (at once in a page, where it runs inside this call).
pub(super) fn beside<T: Send + 'static>(
    name: &str,
    job: impl FnOnce() -> T + Send + 'static,
) -> Receiver<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let spawned = std::thread::Builder::new()
            .name(format!("nnm-{name}"))
            .spawn(move || {
                let _ = tx.send(job());
            });
        // A thread that cannot start leaves the channel closed: the caller
        // sees `Disconnected` and shows nothing, as for a failed job.
        drop(spawned);
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = name;
        let _ = tx.send(job());
    }
    rx
}
