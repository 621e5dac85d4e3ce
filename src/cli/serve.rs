//! `nnm serve`: the headless trainer as a service over HTTP and WebSocket.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use nn_microscope::lab::CpuBackend;
use nn_microscope::lab::net::{DEFAULT_LISTEN, ServeOptions, Server, bind};
use nn_microscope::lab::scene::Presets;

/// Options of `nnm serve`.
#[derive(Debug, clap::Args)]
pub(super) struct ServeArgs {
    /// The address to serve on (port 0 picks a free one, printed at start).
    /// Anything but loopback needs --token.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    bind: String,
    /// The token every request must carry (`Authorization: Bearer TOKEN`,
    /// or `?token=TOKEN`).
    #[arg(long)]
    token: Option<String>,
    /// Folder that receives run directories.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Record nothing.
    #[arg(long)]
    no_record: bool,
    /// The most connections held at once (viewers and requests); more are
    /// answered 503.
    #[arg(long, default_value_t = nn_microscope::lab::net::MAX_CONNECTIONS)]
    max_connections: usize,
}

/// Serves until the process is ended.
pub(super) fn serve(args: ServeArgs, presets: &Presets) -> Result<ExitCode> {
    let (listener, bound) = bind(&args.bind, args.token.as_deref())?;
    let mut server = Server::<CpuBackend>::new(
        listener,
        ServeOptions {
            presets: presets.clone(),
            runs_root: (!args.no_record).then_some(args.runs),
            token: args.token,
            max_connections: args.max_connections,
        },
    )?;
    // The address first, alone on its line: a script that asked for port 0 reads it here.
    println!("serving on {bound}");
    println!(
        "GET /health /status /runs /weights, POST /train /stop /settings, WebSocket ws://{bound}/stream"
    );
    server.run(&AtomicBool::new(false));
    Ok(ExitCode::SUCCESS)
}
