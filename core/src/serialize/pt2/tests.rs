use super::schema;

/// The `models/model.json` of `mymodule.pt2` as PyTorch 2.15 writes it (abridged to one
/// node), parsed and written back: the same JSON value.
#[test]
fn schema_round_trips_pytorch_json() {
    let text = r#"{"graph_module": {"graph": {"inputs": [{"as_tensor": {"name": "x"}}],
      "outputs": [{"as_tensor": {"name": "relu"}}],
      "nodes": [{"target": "torch.ops.aten.relu.default",
        "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}, "kind": 1}],
        "outputs": [{"as_tensor": {"name": "relu"}}],
        "metadata": {"stack_trace": "File \"a.py\", line 3, in forward\n    return x.relu()"},
        "is_hop_single_tensor_return": null, "name": "relu"}],
      "tensor_values": {"x": {"dtype": 7, "sizes": [{"as_expr": {"expr_str": "Symbol('s77', positive=True, integer=True)", "hint": {"as_int": 8}}}, {"as_int": 3}],
        "requires_grad": false, "device": {"type": "cpu", "index": null},
        "strides": [{"as_int": 3}, {"as_int": 1}], "storage_offset": {"as_int": 0}, "layout": 7}},
      "sym_int_values": {}, "sym_bool_values": {}, "is_single_tensor_return": false,
      "custom_obj_values": {}, "sym_float_values": {}},
     "signature": {"input_specs": [{"user_input": {"arg": {"as_tensor": {"name": "x"}}}}],
       "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "relu"}}}}]},
     "module_call_graph": [{"fqn": "", "signature": null}], "metadata": {},
     "treespec_namedtuple_fields": {}},
    "opset_version": {"aten": 10},
    "range_constraints": {"s77": {"min_val": 2, "max_val": null}},
    "schema_version": {"major": 8, "minor": 20}, "verifiers": ["TRAINING"],
    "torch_version": "2.15.0+cu132", "guards_code": []}"#;
    let ep: schema::ExportedProgram = serde_json::from_str(text).unwrap();
    assert_eq!(ep.schema_version.major, 8);
    assert_eq!(
        ep.range_constraints.get("s77").map(|r| r.max_val),
        Some(None)
    );
    let written = serde_json::to_value(&ep).unwrap();
    let original: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(written, original);
}

#[test]
fn json_floats_spell_infinity_and_nan() {
    let args: Vec<schema::Argument> =
        serde_json::from_str(r#"[{"as_float": "Infinity"}, {"as_float": "-Infinity"}, {"as_float": "NaN"}, {"as_float": 0.5}]"#)
            .unwrap();
    let floats: Vec<f64> = args
        .iter()
        .map(|a| match a {
            schema::Argument::AsFloat(f) => f.0,
            _ => 0.0,
        })
        .collect();
    assert_eq!(floats[0], f64::INFINITY);
    assert_eq!(floats[1], f64::NEG_INFINITY);
    assert!(floats[2].is_nan());
    assert_eq!(floats[3], 0.5);
    assert_eq!(
        serde_json::to_string(&args).unwrap(),
        r#"[{"as_float":"Infinity"},{"as_float":"-Infinity"},{"as_float":"NaN"},{"as_float":0.5}]"#
    );
}

// ---------------------------------------------------------------------------------------
// The zip reader

use super::zip::{crc32, Archive};

/// A minimal zip writer for the tests: stored entries, optionally with zip64 records
/// (sizes and offsets saturated in the fixed headers, the real values in zip64 extra
/// fields, zip64 end record and locator).
fn build_zip(entries: &[(&str, &[u8])], zip64: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let le16 = |v: usize| u16::try_from(v).unwrap().to_le_bytes();
    for (name, data) in entries {
        let offset = out.len();
        let crc = crc32(data);
        let (size32, extra) = if zip64 {
            let mut e = vec![1, 0, 24, 0];
            for v in [data.len() as u64, data.len() as u64, offset as u64] {
                e.extend_from_slice(&v.to_le_bytes());
            }
            (0xFFFF_FFFFu32, e)
        } else {
            (u32::try_from(data.len()).unwrap(), Vec::new())
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        out.extend_from_slice(&le16(name.len()));
        out.extend_from_slice(&le16(0));
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size32.to_le_bytes());
        central.extend_from_slice(&size32.to_le_bytes());
        central.extend_from_slice(&le16(name.len()));
        central.extend_from_slice(&le16(extra.len()));
        central.extend_from_slice(&[0; 10]);
        let off32 = if zip64 {
            0xFFFF_FFFF
        } else {
            u32::try_from(offset).unwrap()
        };
        central.extend_from_slice(&off32.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
        central.extend_from_slice(&extra);
    }
    let cd_offset = out.len();
    out.extend_from_slice(&central);
    let n = entries.len();
    if zip64 {
        let z = out.len();
        out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [n as u64, n as u64, central.len() as u64, cd_offset as u64] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(z as u64).to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    let count = if zip64 { 0xFFFF } else { n };
    out.extend_from_slice(&le16(count));
    out.extend_from_slice(&le16(count));
    let (size, off) = if zip64 {
        (0xFFFF_FFFFu32, 0xFFFF_FFFFu32)
    } else {
        (
            u32::try_from(central.len()).unwrap(),
            u32::try_from(cd_offset).unwrap(),
        )
    };
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&off.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

fn contents(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let zip = Archive::new(bytes)?;
    zip.entries
        .iter()
        .map(|e| Ok((e.name.clone(), zip.read(e)?.to_vec())))
        .collect()
}

#[test]
fn crc32_is_ieee() {
    assert_eq!(crc32(b""), 0);
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    // Eight bytes a step: every length and alignment agrees with the definition, bit by bit.
    let bitwise = |data: &[u8]| {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    0xEDB8_8320 ^ (crc >> 1)
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    };
    let data: Vec<u8> = (0u32..100)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for start in 0..8 {
        for end in start..data.len() {
            assert_eq!(
                crc32(&data[start..end]),
                bitwise(&data[start..end]),
                "{start}..{end}"
            );
        }
    }
}

#[test]
fn zip_reads_stored_and_zip64_entries() {
    // Entry data that spells the zip64 signatures, as a weight of convnet8.pt2 does.
    let tricky: &[u8] = b"PK\x06\x06....PK\x06\x07....";
    let entries: &[(&str, &[u8])] = &[("m/archive_format", b"pt2"), ("m/data/w", tricky)];
    for zip64 in [false, true] {
        let got = contents(&build_zip(entries, zip64)).unwrap();
        let want: Vec<(String, Vec<u8>)> = entries
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_vec()))
            .collect();
        assert_eq!(got, want, "zip64 = {zip64}");
        // Read sparsely: the structure and the wanted entry, zeros for the other.
        let bytes = build_zip(entries, zip64);
        let sparse =
            super::zip::read_sparse(&mut std::io::Cursor::new(&bytes), |n| n.ends_with("format"))
                .unwrap();
        let zip = super::zip::Archive::new(&sparse).unwrap();
        assert_eq!(
            zip.read(&zip.entries[0]).unwrap(),
            b"pt2",
            "zip64 = {zip64}"
        );
        let skipped = zip.locate(&zip.entries[1]).unwrap();
        assert!(skipped.iter().all(|&b| b == 0), "zip64 = {zip64}");
        assert!(zip.read(&zip.entries[1]).unwrap_err().contains("CRC-32"));
    }
    // A trailing archive comment is allowed.
    let mut with_comment = build_zip(entries, false);
    let len = with_comment.len();
    with_comment[len - 2] = 3;
    with_comment.extend_from_slice(b"hey");
    assert_eq!(contents(&with_comment).unwrap().len(), 2);
}

#[test]
fn zip_refuses_damaged_files() {
    let entries: &[(&str, &[u8])] = &[("a", b"hello"), ("b", b"world")];
    for zip64 in [false, true] {
        let good = build_zip(entries, zip64);
        for len in 0..good.len() {
            assert!(
                contents(&good[..len]).is_err(),
                "zip64={zip64}: {len} bytes read"
            );
        }
    }
    let good = build_zip(entries, false);
    let eocd = good.len() - 22;
    let patch = |at: usize, v: &[u8]| {
        let mut b = good.clone();
        b[at..at + v.len()].copy_from_slice(v);
        contents(&b).unwrap_err()
    };
    let e = patch(eocd + 16, &0x00FF_FFFFu32.to_le_bytes());
    assert!(e.contains("outside the file"), "{e}");
    let e = patch(eocd + 10, &0xFFFEu16.to_le_bytes());
    assert!(e.contains("entries"), "{e}");
    let cd = u32::from_le_bytes(good[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    // A huge entry size, a header offset past the end, a changed byte of data.
    let e = patch(cd + 20, &[0xF0, 0xFF, 0xFF, 0xFF, 0xF0, 0xFF, 0xFF, 0xFF]);
    assert!(e.contains("outside the file"), "{e}");
    let e = patch(cd + 42, &0x7FFF_FFFFu32.to_le_bytes());
    assert!(e.contains("no local header"), "{e}");
    let e = patch(30 + 1, b"J");
    assert!(e.contains("CRC-32"), "{e}");
    let e = patch(cd + 10, &8u16.to_le_bytes());
    assert!(e.contains("compressed"), "{e}");
    // zip64: a locator pointing nowhere.
    let z = build_zip(entries, true);
    let loc = z.len() - 22 - 20;
    let mut bad = z.clone();
    bad[loc + 8..loc + 16].copy_from_slice(&1_000_000u64.to_le_bytes());
    assert!(contents(&bad).unwrap_err().contains("zip64"));
    assert!(contents(b"not a zip file at all, just some text that is long").is_err());
}

// ---------------------------------------------------------------------------------------
// Damaged PyTorch archives

use crate::error::LoadError;

fn corpus(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/pt2/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

/// `counter.pt2` with entry `name` (under its top folder) changed by `edit`.
fn edited(name: &str, edit: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let bytes = corpus("counter.pt2");
    let entries = contents(&bytes).unwrap();
    let changed: Vec<(String, Vec<u8>)> = entries
        .into_iter()
        .map(|(n, d)| {
            let d = if n == format!("counter/{name}") {
                edit(&d)
            } else {
                d
            };
            (n, d)
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = changed
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    build_zip(&refs, false)
}

fn replace(from: &str, to: &str) -> impl Fn(&[u8]) -> Vec<u8> {
    let (from, to) = (from.to_string(), to.to_string());
    move |d: &[u8]| {
        let text = String::from_utf8(d.to_vec()).unwrap();
        assert!(text.contains(&from), "{from}");
        text.replacen(&from, &to, 1).into_bytes()
    }
}

fn load(bytes: &[u8]) -> Result<crate::program::ExportedProgram, LoadError> {
    crate::serialize::pt2::from_bytes(bytes, "c.pt2")
}

#[test]
fn the_test_archive_builder_keeps_programs_loadable() {
    let ep = load(&edited("byteorder", |d| d.to_vec())).unwrap();
    assert_eq!(ep.graph_signature().input_specs.len(), 5);
}

#[test]
fn pytorch_archive_errors_say_which_and_where() {
    let err = load(&edited(
        "models/model.json",
        replace("aten.tanh.default", "aten.frobnicate.default"),
    ))
    .unwrap_err();
    let LoadError::UnknownOp { op, node, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (op.as_str(), node.as_str()),
        ("torch.ops.aten.frobnicate.default", "tanh")
    );
    assert_eq!(
        err.to_string(),
        "`c.pt2`: node `tanh` calls `torch.ops.aten.frobnicate.default`, an ATen op that \
         ferrex does not implement yet"
    );

    // Every missing op is named at once, each with its first node.
    let err = load(&edited("models/model.json", |d| {
        let d = replace("aten.tanh.default", "aten.frobnicate.default")(d);
        let d = replace("aten.mean.dim", "mylib.smooth.default")(&d);
        replace("aten.linear.default", "aten.frobnicate.default")(&d)
    }))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`c.pt2`: node `linear` calls `torch.ops.aten.frobnicate.default`, an ATen op that \
         ferrex does not implement yet; 1 more op(s) missing: `torch.ops.mylib.smooth.default` \
         (node `mean`, custom)"
    );

    let err = load(&edited(
        "models/model.json",
        replace("\"major\": 8", "\"major\": 9"),
    ))
    .unwrap_err();
    assert!(matches!(err, LoadError::NewerVersion { .. }), "{err}");
    assert!(err.to_string().contains("PyTorch schema 9.20"), "{err}");
    let err = load(&edited("archive_version", |_| b"7".to_vec())).unwrap_err();
    assert!(err.to_string().contains("archive version 7"), "{err}");

    let cases: Vec<(Vec<u8>, &str)> = vec![
        (edited("models/model.json", |_| b"{\"hello\": 1}".to_vec()), "no schema_version"),
        (edited("models/model.json", |d| d[..d.len() / 2].to_vec()), "invalid JSON"),
        (
            edited("models/model.json", replace("{\"name\": \"mul_\"}}, \"kind\": 1}, {\"name\": \"other\", \"arg\": {\"as_tensor\"", "{\"name\": \"nowhere\"}}, \"kind\": 1}, {\"name\": \"other\", \"arg\": {\"as_tensor\"")),
            "node add__1: `nowhere` is not a value defined before this node",
        ),
        (edited("data/weights/weight_0", |d| d[..d.len() - 4].to_vec()), "`lin.weight`: sizes [6, 6]"),
        (
            edited("data/weights/model_weights_config.json", replace("\"storage_offset\": {\"as_int\": 0}", "\"storage_offset\": {\"as_int\": 9223372036854775807}")),
            "lin.weight",
        ),
        (
            edited("data/weights/model_weights_config.json", replace("\"path_name\": \"weight_0\"", "\"path_name\": \"../weight_0\"")),
            "is not a file name",
        ),
        (edited("data/weights/weight_1", |_| Vec::new()), ""),
        (edited("archive_format", |_| b"zip".to_vec()), "archive_format is `zip`"),
    ];
    for (bytes, want) in cases {
        match load(&bytes) {
            Err(e) => assert!(e.to_string().contains(want), "want `{want}` in: {e}"),
            // An empty storage file stands for zeros, as in PyTorch.
            Ok(ep) => assert_eq!(want, "", "loaded: {ep}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Structure-only loads (what `ferrex-aot` reads)

/// Whether entry `name` holds a stored tensor's data (not its JSON config).
fn is_payload(name: &str) -> bool {
    name.contains("/data/weights/") && !name.ends_with(".json")
}

#[test]
fn a_structure_load_reads_no_weight_bytes() {
    let bytes = corpus("convnet8.pt2");
    let full = load(&bytes).unwrap();
    // Every weight's data zeroed in place, the CRC-32s left as they were.
    let zip = super::zip::Archive::new(&bytes).unwrap();
    let mut zeroed = bytes.clone();
    for e in zip.entries.iter().filter(|e| is_payload(&e.name)) {
        let data = zip.locate(e).unwrap();
        let at = data.as_ptr() as usize - bytes.as_ptr() as usize;
        zeroed[at..at + data.len()].fill(0);
    }
    let e = load(&zeroed).unwrap_err().to_string();
    assert!(e.contains("CRC-32"), "{e}");
    let s = super::structure_from_bytes(&zeroed, "c.pt2").unwrap();
    assert_eq!(s.program.to_string(), full.to_string());
    let want: Vec<(String, String)> = (full.state_dict().iter())
        .map(|(n, t)| (n.to_string(), t.meta().unwrap().to_string()))
        .collect();
    let got: Vec<(String, String)> = (s.stored.iter())
        .map(|(n, m)| (n.clone(), m.to_string()))
        .collect();
    let mut want_sorted = want;
    want_sorted.sort();
    assert_eq!(got, want_sorted);
    assert_eq!(got.len(), 9);
    let (name, t) = s.program.state_dict().iter().next().unwrap();
    let e = t.try_storage().unwrap_err().to_string();
    assert!(
        e.contains(&format!("`{name}` was loaded for its structure only")),
        "{e}"
    );

    // Reading the file sparsely gives these very bytes: the structure and the JSON
    // entries as stored, every weight's data zeros.
    let sparse =
        super::zip::read_sparse(&mut std::io::Cursor::new(&bytes), |n| !is_payload(n)).unwrap();
    assert!(
        sparse == zeroed,
        "read_sparse differs from the zeroed archive"
    );
}

#[test]
fn a_structure_load_checks_each_weight_fits_its_entry() {
    // `counter.pt2`'s `lin.weight` is 6×6 f32 (144 bytes): 140 are refused, as by `load`.
    let short = edited("data/weights/weight_0", |d| d[..d.len() - 4].to_vec());
    let e = super::structure_from_bytes(&short, "c.pt2")
        .unwrap_err()
        .to_string();
    let full = load(&short).unwrap_err().to_string();
    assert!(e.contains("read past its storage"), "{e}");
    assert_eq!(e, full);
}
