use std::collections::HashMap;

use proptest::prelude::*;
use safetensors::tensor::{Dtype, TensorView};

use super::*;

/// A safetensors file of f32 tensors named as given, with `metadata`.
fn file(tensors: &[(&str, Vec<usize>, Vec<f32>)], metadata: &[(&str, &str)]) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| (n.to_string(), s.clone(), le_bytes(v)))
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::tensor::serialize(views, Some(meta)).unwrap()
}

/// 0, 1, 2, ... as f32.
fn counting(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}

fn message() -> NetworkMessage {
    let layer = |inputs: usize, outputs: usize, grads: bool| LayerTensors {
        inputs,
        outputs,
        weights: (0..inputs * outputs)
            .map(|i| i as f32 * 0.25 - 1.0)
            .collect(),
        biases: (0..outputs).map(|i| i as f32 * -0.5).collect(),
        weight_grads: grads.then(|| (0..inputs * outputs).map(|i| i as f32 * 1e-3).collect()),
        bias_grads: grads.then(|| vec![0.125; outputs]),
        name: String::new(),
    };
    NetworkMessage {
        step: 42,
        layers: vec![layer(2, 3, true), layer(3, 2, false)],
        probe_inputs: vec![vec![0.5, -0.5], vec![1.0, 2.0]],
        activations: Some(vec![Activation::Tanh]),
        output: Some(OutputKind::Softmax),
        scalars: [("loss".to_string(), 0.693), ("reward".to_string(), -3.5)]
            .into_iter()
            .collect(),
        notes: [("source".to_string(), "a test".to_string())]
            .into_iter()
            .collect(),
    }
}

#[test]
fn a_message_reads_back_as_it_was_written() {
    let sent = message();
    let bytes = sent.encode().unwrap();
    let mut got = NetworkMessage::decode(&bytes, "peer", None).unwrap();
    for l in &mut got.layers {
        l.name.clear();
    }
    assert_eq!(got, sent);
    assert_eq!(got.sizes(), vec![2, 3, 2]);
    let config = got.architecture(Activation::Relu, OutputKind::Linear);
    assert_eq!(config.sizes, vec![2, 3, 2]);
    assert_eq!(
        config.activations,
        vec![Activation::Tanh],
        "the message's own, not the default"
    );
    assert_eq!(config.output, OutputKind::Softmax);
}

#[test]
fn pytorch_names_are_read_in_natural_order_and_transposed() {
    // nn.Sequential(Linear(2, 3), ReLU, Linear(3, 4), ReLU, ..., Linear(4, 1)) under `net.`,
    // with layer 10 after layer 2, as torch's state_dict names them.
    let bytes = file(
        &[
            ("net.0.weight", vec![3, 2], counting(6)),
            ("net.0.bias", vec![3], vec![1.0, 2.0, 3.0]),
            ("net.2.weight", vec![4, 3], counting(12)),
            ("net.2.bias", vec![4], vec![0.0; 4]),
            ("net.10.weight", vec![1, 4], counting(4)),
        ],
        &[("format", "pt"), ("loss", "0.25"), ("note", "from torch")],
    );
    let m = NetworkMessage::decode(&bytes, "ckpt_000120.safetensors", Some(120)).unwrap();
    assert_eq!(m.step, 120, "the step from the file name");
    assert_eq!(m.sizes(), vec![2, 3, 4, 1]);
    // torch's [out, in] row-major: weight[o][i] = 2o + i; the lab keeps [in][out].
    let first = &m.layers[0];
    for i in 0..2 {
        for o in 0..3 {
            assert_eq!(first.weights[i * 3 + o], (2 * o + i) as f32);
        }
    }
    assert_eq!(first.biases, vec![1.0, 2.0, 3.0]);
    assert_eq!(
        m.layers[2].biases,
        vec![0.0],
        "a layer without a bias has zeros"
    );
    assert_eq!(m.layers[2].name, "net.10.weight");
    assert_eq!(m.scalars.get("loss"), Some(&0.25));
    assert_eq!(m.notes.get("note").map(String::as_str), Some("from torch"));
    assert!(!m.scalars.contains_key("format"));
}

#[test]
fn flax_names_and_float64_are_read_as_kernels() {
    let kernel: Vec<f64> = (0..6).map(f64::from).collect();
    let kernel_bytes: Vec<u8> = kernel.iter().flat_map(|v| v.to_le_bytes()).collect();
    let bias_bytes = le_bytes(&[0.5, -0.5]);
    let views = vec![
        (
            "params/Dense_0/kernel".to_string(),
            TensorView::new(Dtype::F64, vec![3, 2], &kernel_bytes).unwrap(),
        ),
        (
            "params/Dense_0/bias".to_string(),
            TensorView::new(Dtype::F32, vec![2], &bias_bytes).unwrap(),
        ),
    ];
    let meta: HashMap<String, String> = [("step".to_string(), "7".to_string())].into();
    let bytes = safetensors::tensor::serialize(views, Some(meta)).unwrap();
    let m = NetworkMessage::decode(&bytes, "flax.safetensors", None).unwrap();
    assert_eq!(m.step, 7);
    assert_eq!(m.sizes(), vec![3, 2]);
    assert_eq!(
        m.layers[0].weights,
        counting(6),
        "[in, out] is the lab's layout already"
    );
    assert_eq!(m.layers[0].biases, vec![0.5, -0.5]);
}

#[test]
fn shapes_that_do_not_chain_name_the_file_both_tensors_and_shapes() {
    let bytes = file(
        &[
            ("0.weight", vec![3, 2], counting(6)),
            ("1.weight", vec![4, 5], counting(20)),
        ],
        &[("step", "1")],
    );
    let e = NetworkMessage::decode(&bytes, "run/ckpt_1.safetensors", None)
        .unwrap_err()
        .to_string();
    for part in [
        "run/ckpt_1.safetensors",
        "`1.weight`",
        "[4, 5]",
        "`0.weight`",
        "3 outputs",
    ] {
        assert!(e.contains(part), "{part} missing from: {e}");
    }
}

#[test]
fn bad_messages_get_errors_that_say_what_is_wrong() {
    let ok = || vec![("0.weight", vec![2, 2], counting(4))];
    let step = [("step", "3")];
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            file(&[("0.mystery", vec![2], vec![1.0, 2.0])], &step),
            "unknown tensor `0.mystery`",
        ),
        (
            file(
                &[("0.weight", vec![2, 2], vec![1.0, f32::NAN, 0.0, 0.0])],
                &step,
            ),
            "`0.weight` holds NaN at index 1",
        ),
        (file(&ok(), &[]), "no step"),
        (file(&ok(), &[("step", "ten")]), "metadata `step`: `ten`"),
        (
            file(&ok(), &[("step", "1"), ("activations", "relu,swish")]),
            "unknown `swish`",
        ),
        (
            file(&ok(), &[("step", "1"), ("output", "sigmoid")]),
            "`sigmoid`",
        ),
        (
            file(
                &[
                    ("0.weight", vec![2, 2], counting(4)),
                    ("0.bias", vec![3], counting(3)),
                ],
                &step,
            ),
            "`0.bias` has shape [3]",
        ),
        (
            file(&[("0.weight", vec![4], counting(4))], &step),
            "`0.weight` has shape [4]: a weight has two dimensions",
        ),
        (
            file(&[("0.bias", vec![2], counting(2))], &step),
            "has no weight",
        ),
        (
            file(
                &[
                    ("0.weight", vec![2, 2], counting(4)),
                    ("probe.input", vec![1, 3], counting(3)),
                ],
                &step,
            ),
            "the network takes 2 inputs",
        ),
        (
            b"not a safetensors file at all".to_vec(),
            "not a safetensors message",
        ),
    ];
    for (bytes, expected) in cases {
        let e = NetworkMessage::decode(&bytes, "peer 127.0.0.1:9", None)
            .expect_err(expected)
            .to_string();
        assert!(e.starts_with("peer 127.0.0.1:9: "), "{e}");
        assert!(e.contains(expected), "{expected} missing from: {e}");
    }
}

#[test]
fn a_truncated_message_is_an_error_at_every_length() {
    let bytes = message().encode().unwrap();
    for len in 0..bytes.len() {
        assert!(
            NetworkMessage::decode(&bytes[..len], "socket", None).is_err(),
            "{len} of {} bytes read as a message",
            bytes.len()
        );
    }
}

#[test]
fn a_newer_format_version_is_refused_by_name() {
    let bytes = file(
        &[("0.weight", vec![1, 2], vec![1.0, 2.0])],
        &[("format", STREAM_FORMAT), ("version", "2"), ("step", "3")],
    );
    let err = NetworkMessage::decode(&bytes, "peer", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("metadata `version`: 2 is a newer"), "{err}");
}

#[test]
fn a_scalar_cannot_take_a_reserved_name() {
    let mut m = message();
    m.scalars.insert("step".into(), 1.0);
    let e = m.encode().unwrap_err().to_string();
    assert!(e.contains("`step` is reserved"), "{e}");
}

#[test]
fn steps_come_from_the_last_number_of_a_file_name() {
    assert_eq!(step_from_file_name("ckpt_000120.safetensors"), Some(120));
    assert_eq!(step_from_file_name("run3/step-40.npz"), Some(40));
    assert_eq!(step_from_file_name("model_v2_step10.safetensors"), Some(10));
    assert_eq!(step_from_file_name("final.safetensors"), None);
}

#[test]
fn layer_names_sort_by_the_value_of_their_numbers() {
    let mut layers = vec!["Dense_10", "Dense_9", "Dense_0", "fc2", "fc10", "fc1"];
    layers.sort_by_key(|n| names::NaturalKey::of(n));
    assert_eq!(
        layers,
        vec!["Dense_0", "Dense_9", "Dense_10", "fc1", "fc2", "fc10"]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever arrives on a socket, the decoder answers with a message or an error.
    #[test]
    fn the_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = NetworkMessage::decode(&bytes, "fuzz", Some(0));
    }

    /// A valid message with bytes flipped is read or refused, never a panic.
    #[test]
    fn a_corrupted_message_never_panics(at in 0usize..4096, byte in any::<u8>()) {
        let mut bytes = message().encode().unwrap();
        let i = at % bytes.len();
        bytes[i] = byte;
        let _ = NetworkMessage::decode(&bytes, "fuzz", Some(0));
    }
}

#[test]
fn an_npz_step_past_two_to_the_24_reads_exactly() {
    use crate::lab::data::npy::{f32s, i64s};
    use std::io::Write;
    use zip::write::{SimpleFileOptions, ZipWriter};
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in [
        ("0.weight.npy", f32s(&[1, 2], &[0.5, -0.25])),
        ("0.bias.npy", f32s(&[1], &[0.125])),
        ("step.npy", i64s(&[], &[16_777_217])),
        ("epoch.npy", i64s(&[], &[3])),
    ] {
        zip.start_file(name, SimpleFileOptions::default()).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let message = NetworkMessage::decode_npz(&bytes, "exact.npz", None).unwrap();
    assert_eq!(message.step, 16_777_217);
    assert_eq!(message.scalars.get("epoch"), Some(&3.0));
}
