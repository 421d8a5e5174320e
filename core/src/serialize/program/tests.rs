//! The archive's layout, versioning and error reporting.

use std::io::Cursor;

use super::*;
use crate::nn;
use ferrex_macros::export_module;

#[export_module]
struct Net {
    fc: nn::Linear,
}

#[export_module]
impl Net {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.fc.forward(x).relu()
    }
}

fn saved() -> (ExportedProgram, Vec<u8>) {
    let net = Net {
        fc: nn::Linear::new(4, 3),
    };
    let ep = crate::export(&net, (Tensor::randn([2, 4]),)).unwrap();
    let bytes = to_bytes(&ep).unwrap();
    (ep, bytes)
}

/// The archive with `models/model.json` rewritten by `edit`.
fn with_json(bytes: &[u8], edit: impl FnOnce(String) -> String) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut edit = Some(edit);
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        if name == MODEL_JSON {
            let e = edit.take().unwrap();
            data = e(String::from_utf8(data).unwrap()).into_bytes();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

fn load_err(bytes: &[u8]) -> LoadError {
    match from_bytes(bytes, "net.pt2") {
        Ok(_) => panic!("the damaged program loaded"),
        Err(e) => e,
    }
}

#[test]
fn the_layout_is_a_pt2_archive() {
    let (ep, bytes) = saved();
    let mut zip = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
    for n in [
        "archive_format",
        "byteorder",
        MODEL_JSON,
        WEIGHTS,
        CONSTANTS,
    ] {
        assert!(names.contains(&n.to_string()), "{names:?}");
    }
    let mut json = String::new();
    zip.by_name(MODEL_JSON)
        .unwrap()
        .read_to_string(&mut json)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema_version"]["major"], FORMAT_VERSION.0);
    let nodes = v["graph_module"]["graph"]["nodes"].as_array().unwrap();
    let linear = nodes
        .iter()
        .find(|n| n["target"] == "aten::linear.default")
        .unwrap();
    // Inputs are named by the schema; metadata carries the stack trace.
    assert_eq!(linear["inputs"][0]["name"], "input");
    assert_eq!(linear["inputs"][1]["name"], "weight");
    assert_eq!(linear["inputs"][0]["arg"]["as_tensor"]["name"], "x");
    assert!(linear["metadata"]["stack_trace"]
        .as_str()
        .unwrap()
        .contains("Linear::forward"));
    let meta = &v["graph_module"]["graph"]["tensor_values"]["linear"];
    assert_eq!(meta["dtype"], 7);
    assert_eq!(meta["sizes"][0]["as_int"], 2);
    let loaded = from_bytes(&bytes, "net.pt2").unwrap();
    assert_eq!(loaded.to_string(), ep.to_string());
}

#[test]
fn an_unregistered_op_is_named() {
    let (_, bytes) = saved();
    let bad = with_json(&bytes, |j| {
        j.replace("\"aten::relu.default\"", "\"mylib::mystery.default\"")
    });
    let err = load_err(&bad);
    assert!(
        matches!(&err, LoadError::UnknownOp { op, node, .. } if op == "mylib::mystery.default" && node == "relu"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "`net.pt2`: node `relu` calls `mylib::mystery.default`, which is not a registered \
         op; register the custom op (`ferrex::ops::register`) before loading the program"
    );
}

#[test]
fn a_newer_major_version_is_refused_and_a_newer_minor_loads() {
    let (ep, bytes) = saved();
    let newer = with_json(&bytes, |j| j.replacen("\"major\": 1", "\"major\": 2", 1));
    let err = load_err(&newer);
    assert!(matches!(err, LoadError::NewerVersion { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "`net.pt2` was saved in program format version 2.0, but this ferrex reads \
         versions up to 1.x; load it with a newer ferrex"
    );
    // Even when the rest is unreadable, the version is what is reported.
    let newer = with_json(&bytes, |_| {
        r#"{"schema_version": {"major": 9, "minor": 0}}"#.into()
    });
    assert!(matches!(load_err(&newer), LoadError::NewerVersion { .. }));
    let minor = with_json(&bytes, |j| j.replacen("\"minor\": 0", "\"minor\": 7", 1));
    assert_eq!(from_bytes(&minor, "x").unwrap().to_string(), ep.to_string());
}

#[test]
fn damaged_json_is_an_error_naming_what_is_wrong() {
    let (_, bytes) = saved();
    type Edit = Box<dyn FnOnce(String) -> String>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|j: String| j[..j.len() / 2].to_string()),
            "invalid JSON",
        ),
        (Box::new(|_| "{}".to_string()), "no schema_version"),
        (
            Box::new(|j: String| {
                let mut v: serde_json::Value = serde_json::from_str(&j).unwrap();
                v.as_object_mut().unwrap().remove("graph_module");
                v.to_string()
            }),
            "missing field `graph_module`",
        ),
        (
            Box::new(|j: String| j.replace("\"dtype\": 7", "\"dtype\": 99")),
            "scalar type 99 is not supported",
        ),
        (
            Box::new(|j: String| j.replacen("\"name\": \"x\"", "\"name\": \"nosuch\"", 2)),
            "`nosuch`",
        ),
        (
            Box::new(|j: String| j.replace("\"fc.bias\"", "\"fc.ghost\"")),
            "fc.ghost",
        ),
        (
            Box::new(|j: String| {
                let mut v: serde_json::Value = serde_json::from_str(&j).unwrap();
                v["graph_module"]["graph"]["tensor_values"]["p_fc_weight"]["sizes"][1] =
                    serde_json::json!({"as_int": 5});
                v.to_string()
            }),
            "`fc.weight` is f32[3, 4], but the graph's input `p_fc_weight` is f32[3, 5]",
        ),
        (
            Box::new(|j: String| {
                let mut v: serde_json::Value = serde_json::from_str(&j).unwrap();
                v["graph_module"]["graph"]["tensor_values"]["x"]["sizes"][0] =
                    serde_json::json!({"as_expr": {"expr_str": "s0 +", "hint": {"as_int": 2}}});
                v.to_string()
            }),
            "cannot parse the size expression `s0 +`",
        ),
        (
            Box::new(|j: String| {
                let mut v: serde_json::Value = serde_json::from_str(&j).unwrap();
                v["graph_module"]["graph"]["outputs"] =
                    serde_json::json!([{"as_graph": {"name": "nowhere"}}]);
                v.to_string()
            }),
            "can only be a branch",
        ),
    ];
    for (edit, expected) in cases {
        let err = load_err(&with_json(&bytes, edit));
        let text = err.to_string();
        assert!(text.starts_with("`net.pt2`"), "{text}");
        assert!(text.contains(expected), "expected `{expected}` in: {text}");
    }
}
