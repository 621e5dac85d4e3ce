//! A property test: mutated scene files give a scene or a clear error, never a panic.
//!
//! Every built-in preset is mutated: numbers set to edge values, lines (fields)
//! dropped, the text truncated and garbage inserted. A scene that still parses
//! must load its data and train a step, since the size limits were checked.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use crate::lab::data::Dataset;
use crate::lab::scene::presets::{PresetSource, Presets};
use crate::lab::{CpuBackend, LabError, Scene, Trainer};

/// Numbers a careless or hostile file might hold.
const EDGES: &[&str] = &[
    "0",
    "1",
    "2",
    "-1",
    "0.5",
    "-0.0",
    "65536",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "NaN",
    "inf",
    "-inf",
    "1e38",
    "1e-45",
];

/// Characters garbage is made of: RON's punctuation and some words.
const GARBAGE: &[&str] = &[
    "(", ")", "[", "]", "{", "}", ":", ",", "\"", " ", "\n", "a", "Some", "None", "x", "0", "9",
    ".", "-", "e", "/*", "*/", "//", "r#\"", "'", "\\", "é", "true",
];

/// One change to a scene's text.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the `nth` number (modulo their count) with an edge value.
    Number(usize, &'static str),
    /// Drop the `nth` line.
    DropLine(usize),
    /// Keep only the text before this share of it (per mille).
    Truncate(u16),
    /// Insert garbage at this share of the text (per mille).
    Insert(u16, Vec<&'static str>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<usize>(), prop::sample::select(EDGES)).prop_map(|(n, v)| Mutation::Number(n, v)),
        2 => any::<usize>().prop_map(Mutation::DropLine),
        1 => (0u16..1000).prop_map(Mutation::Truncate),
        2 => (0u16..1000, prop::collection::vec(prop::sample::select(GARBAGE), 1..6))
            .prop_map(|(at, g)| Mutation::Insert(at, g)),
    ]
}

/// Byte spans of the numbers in `text`: digits not glued to a word.
fn numbers(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let glued = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if b[i].is_ascii_digit() && !glued {
            let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
            let mut end = i;
            while end < b.len()
                && (b[end].is_ascii_digit()
                    || b[end] == b'.'
                    || (b[end] == b'e' && end + 1 < b.len() && b[end + 1].is_ascii_digit()))
            {
                end += 1;
            }
            spans.push((start, end));
            i = end;
        } else {
            i += 1;
        }
    }
    spans
}

/// The char boundary at or before `per_mille` of the text.
fn boundary(text: &str, per_mille: u16) -> usize {
    let mut at = text.len() * usize::from(per_mille) / 1000;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, m: &Mutation) -> String {
    match m {
        Mutation::Number(n, value) => {
            let spans = numbers(text);
            if spans.is_empty() {
                return text.to_string();
            }
            let (a, b) = spans[n % spans.len()];
            format!("{}{value}{}", &text[..a], &text[b..])
        }
        Mutation::DropLine(n) => {
            let lines: Vec<&str> = text.lines().collect();
            let drop = n % lines.len().max(1);
            lines
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != drop)
                .map(|(_, l)| *l)
                .collect::<Vec<_>>()
                .join("\n")
        }
        Mutation::Truncate(per_mille) => text[..boundary(text, *per_mille)].to_string(),
        Mutation::Insert(per_mille, garbage) => {
            let at = boundary(text, *per_mille);
            format!("{}{}{}", &text[..at], garbage.concat(), &text[at..])
        }
    }
}

/// The presets' texts, by name.
fn presets() -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Presets::built_in()
        .list()
        .expect("the built-in presets list")
        .into_iter()
        .filter_map(|p| match p.source {
            PresetSource::BuiltIn(text) => Some((p.name, text)),
            PresetSource::File(_) => None,
        })
        .collect();
    out.sort();
    out
}

/// Fails the property unless `err` is one a person can act on: it names a
/// file with a position, a field, or a data file.
fn assert_clear(err: &LabError, text: &str) -> Result<(), TestCaseError> {
    let shown = err.to_string();
    prop_assert!(
        !shown.contains("capacity overflow") && shown.len() > 12,
        "unclear error `{shown}` for:\n{text}"
    );
    if let LabError::Scene { line, field, .. } = err {
        prop_assert!(*line >= 1 && !field.is_empty(), "no position: `{shown}`");
        prop_assert!(shown.starts_with("fuzz/scene.ron:"), "{shown}");
    }
    Ok(())
}

/// Trains two steps of a scene that parsed; data sets are cached by their spec.
fn exercise(
    scene: &Scene,
    cache: &mut HashMap<String, Arc<Dataset>>,
    text: &str,
) -> Result<(), TestCaseError> {
    let key = format!("{:?}", scene.resolved().data);
    let data = match cache.get(&key) {
        Some(d) => d.clone(),
        None => match scene.load_data() {
            Ok(d) => {
                let d = Arc::new(d);
                cache.insert(key, d.clone());
                d
            }
            Err(e) => return assert_clear(&e, text),
        },
    };
    let mut trainer = match Trainer::<CpuBackend>::with_data(scene, data, &Default::default()) {
        Ok(t) => t,
        Err(e) => return assert_clear(&e, text),
    };
    for _ in 0..2 {
        if let Err(e) = trainer.step(true) {
            return assert_clear(&e, text);
        }
    }
    if let Err(e) = trainer.evaluate() {
        return assert_clear(&e, text);
    }
    Ok(())
}

#[test]
fn the_number_scanner_finds_numbers_not_names() {
    let spans = numbers("Xor(samples: 200, noise: -0.1, path: \"mnist10k\", e: 1e5)");
    let text = "Xor(samples: 200, noise: -0.1, path: \"mnist10k\", e: 1e5)";
    let found: Vec<&str> = spans.iter().map(|&(a, b)| &text[a..b]).collect();
    assert_eq!(found, ["200", "-0.1", "1e5"]);
}

#[test]
fn mutated_scene_files_give_a_scene_or_a_clear_error() {
    let presets = presets();
    assert!(presets.len() >= 10, "{} presets", presets.len());
    // The runner takes a `Fn`: the tallies and the cache live in cells.
    let cache = RefCell::new(HashMap::new());
    let parsed = Cell::new(0usize);
    let refused = Cell::new(0usize);
    let config = ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let strategy = (0..presets.len(), prop::collection::vec(mutation(), 1..4));
    proptest::test_runner::TestRunner::new(config)
        .run(&strategy, |(preset, mutations)| {
            let mut text = presets[preset].1.to_string();
            for m in &mutations {
                text = apply(&text, m);
            }
            match Scene::parse(&text, Path::new("fuzz/scene.ron")) {
                Ok(scene) => {
                    parsed.set(parsed.get() + 1);
                    exercise(&scene, &mut cache.borrow_mut(), &text)
                }
                Err(e) => {
                    refused.set(refused.get() + 1);
                    assert_clear(&e, &text)
                }
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // Both outcomes must be common, or the mutations test nothing.
    let (parsed, refused) = (parsed.get(), refused.get());
    eprintln!("scene fuzz: {parsed} mutated scenes parsed and trained, {refused} refused");
    assert!(
        parsed > 100 && refused > 1000,
        "parsed {parsed}, refused {refused}"
    );
}
