//! `nnm scenes`: list the presets, or check that every one parses, validates and loads its data.

use std::process::ExitCode;

use anyhow::Result;

use nn_microscope::lab::scene::Presets;

/// Lists the presets (one line each), or with `check` loads each one's data too.
pub(super) fn scenes(check: bool, presets: &Presets) -> Result<ExitCode> {
    let mut failures = 0;
    for preset in presets.list()? {
        let name = &preset.name;
        let origin = match preset.path() {
            Some(p) => p.display().to_string(),
            None => "built in".into(),
        };
        match preset.load() {
            Ok(scene) if check => match scene.load_data() {
                Ok(d) => println!(
                    "ok    {name:<28} {} ({} train / {} test) [{origin}]",
                    scene.data.name(),
                    d.train.len(),
                    d.test.len()
                ),
                Err(e) => {
                    failures += 1;
                    println!("FAIL  {name:<28} {e}");
                }
            },
            Ok(scene) => println!(
                "{name:<28} {:<20} {} [{origin}]",
                scene.data.name(),
                scene.title
            ),
            Err(e) => {
                failures += 1;
                if check {
                    println!("FAIL  {name:<28} {e}");
                } else {
                    println!("{name:<28} (invalid: {e})");
                }
            }
        }
    }
    if check && failures > 0 {
        eprintln!("{failures} scene(s) failed");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
