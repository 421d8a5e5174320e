//! Writing a program as PyTorch 2.15 writes one (`torch.export.save`), so that
//! `torch.export.load` reads it: a zip whose entries sit under one top folder —
//!
//! | entry | content |
//! |---|---|
//! | `archive_format`, `archive_version`, `byteorder`, `.data/version` | `pt2`, `0`, `little`, `6` |
//! | `models/model.json` | the program in schema 8.20: graph, signature, module call graph, range constraints; ferrex's extras under `graph_module.metadata["ferrex"]` |
//! | `data/weights/weight_{i}` + `model_weights_config.json` | parameters and persistent buffers, raw little-endian bytes, with their names and metas |
//! | `data/constants/tensor_{i}` + `model_constants_config.json` | tensor constants and non-persistent buffers |
//! | `data/sample_inputs/model.pt` | empty (PyTorch reads that as "no example inputs") |

use std::collections::BTreeMap;
use std::io::{Seek, Write};
use std::path::Path;

use super::extras::{Extras, EXTRAS_KEY};
use super::save_graph::{constant_argument, GraphWriter};
use super::schema as s;
use super::sym_values::{tensor_meta, unsavable};
use crate::error::SaveError;
use crate::program::{ArgumentSpec, ExportGraphSignature, ExportedProgram, InputKind, OutputKind};
use crate::symbolic::SymInt;
use crate::tensor::{Storage, Tensor, TensorMeta, TensorState};

/// The `torch_version` ferrex writes: the PyTorch whose format it follows.
pub const TORCH_VERSION: &str = "2.15.0";

/// The program as `.pt2` archive bytes, its entries under the folder `root`.
pub fn to_bytes(ep: &ExportedProgram, root: &str) -> Result<Vec<u8>, SaveError> {
    Ok(write_archive(ep, root, std::io::Cursor::new(Vec::new()))?.into_inner())
}

/// Saves a program to `path` in PyTorch's `.pt2` format. The top folder is named after
/// the file (`mlp.pt2` → `mlp/`), as PyTorch names it. The file is written beside the
/// target and renamed into place, so a failed save leaves no half-written program.
pub fn save(ep: &ExportedProgram, path: impl AsRef<Path>) -> Result<(), SaveError> {
    let path = path.as_ref();
    let bytes = to_bytes(ep, &archive_root(path))?;
    crate::serialize::write_atomically(path, &bytes)
}

/// The file stem, kept to characters that are safe in a zip path.
fn archive_root(path: &Path) -> String {
    let stem: String = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() {
        "archive".into()
    } else {
        stem
    }
}

/// The program's JSON (`models/model.json`).
pub fn program_json(ep: &ExportedProgram) -> Result<s::ExportedProgram, SaveError> {
    let writer = GraphWriter { ep };
    let (inputs, mut signature) = signature(ep.graph_signature())?;
    // A graph whose sizes are still inline gets its SymInt nodes first.
    let with_sym_nodes;
    let g = if crate::passes::has_inline_sizes(ep.graph()) {
        let mut g = ep.graph().clone();
        crate::passes::name_sym_values(&mut g);
        with_sym_nodes = g;
        &with_sym_nodes
    } else {
        ep.graph()
    };
    let graph = writer.graph(g, Some(inputs))?;
    // A user output is written as the graph writes that output (a tensor, or a named
    // SymInt value such as `s0 + 1`).
    let mut graph = graph;
    let specs = &ep.graph_signature().output_specs;
    for ((spec, written), ours) in signature
        .output_specs
        .iter_mut()
        .zip(graph.outputs.iter_mut())
        .zip(specs)
    {
        // ferrex's graph holds `None` for a constant output, its value in the signature;
        // PyTorch's holds the value in both.
        if let ArgumentSpec::Constant { value, .. } = &ours.arg {
            *written = constant_argument(value).0;
        }
        if let s::OutputSpec::UserOutput(user) = spec {
            user.arg = written.clone();
        }
    }
    let extras = serde_json::to_string(&Extras::of(ep))
        .map_err(|e| unsavable(format!("ferrex's extras: {e}")))?;
    let n_user_outputs = signature
        .output_specs
        .iter()
        .filter(|o| matches!(o, s::OutputSpec::UserOutput(_)))
        .count();
    let arg_names: Vec<String> = ep
        .graph_signature()
        .user_inputs()
        .map(|spec| spec.arg.name().to_string())
        .collect();
    Ok(s::ExportedProgram {
        graph_module: s::GraphModule {
            graph,
            signature,
            module_call_graph: vec![s::ModuleCallEntry {
                fqn: String::new(),
                signature: Some(s::ModuleCallSignature {
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                    in_spec: in_spec(arg_names.len()),
                    out_spec: out_spec(n_user_outputs),
                    forward_arg_names: Some(arg_names),
                }),
            }],
            metadata: BTreeMap::from([(EXTRAS_KEY.to_string(), extras)]),
            treespec_namedtuple_fields: BTreeMap::new(),
        },
        opset_version: BTreeMap::from([("aten".to_string(), 10)]),
        range_constraints: ep
            .range_constraints()
            .entries
            .iter()
            .map(|(e, r)| {
                let range = s::RangeConstraint {
                    min_val: Some(r.lower),
                    max_val: r.upper,
                };
                (e.to_string(), range)
            })
            .collect(),
        schema_version: s::SchemaVersion {
            major: s::SCHEMA_VERSION.0,
            minor: s::SCHEMA_VERSION.1,
        },
        verifiers: vec!["ATEN".into()],
        torch_version: TORCH_VERSION.into(),
        guards_code: Vec::new(),
    })
}

const LEAF: &str = r#"{"type": null, "context": null, "children_spec": []}"#;

/// PyTorch's pytree spec of `(args, kwargs)` with `n` positional leaves (the user inputs,
/// flattened: PyTorch calls the loaded module with them in order).
fn in_spec(n: usize) -> String {
    let leaves = vec![LEAF; n].join(", ");
    format!(
        r#"[1, {{"type": "builtins.tuple", "context": "null", "children_spec": [{{"type": "builtins.tuple", "context": "null", "children_spec": [{leaves}]}}, {{"type": "builtins.dict", "context": "[]", "children_spec": []}}]}}]"#
    )
}

/// One output is returned as itself, several as a tuple.
fn out_spec(n: usize) -> String {
    if n == 1 {
        return format!("[1, {LEAF}]");
    }
    let leaves = vec![LEAF; n].join(", ");
    format!(r#"[1, {{"type": "builtins.tuple", "context": "null", "children_spec": [{leaves}]}}]"#)
}

/// The signature, and the graph's inputs in its order (a constant user input is a
/// graph input holding its value).
fn signature(
    sig: &ExportGraphSignature,
) -> Result<(Vec<s::Argument>, s::GraphSignature), SaveError> {
    let tensor = |a: &ArgumentSpec| s::TensorArgument {
        name: a.name().to_string(),
    };
    let mut inputs = Vec::new();
    let mut input_specs = Vec::new();
    for spec in &sig.input_specs {
        let target = || {
            spec.target
                .clone()
                .ok_or_else(|| unsavable(format!("the input `{}` has no target", spec.arg.name())))
        };
        let (input, written) = match (spec.kind, &spec.arg) {
            (InputKind::UserInput, ArgumentSpec::Constant { name, value }) => {
                let (arg, value) = constant_argument(value);
                let name = name.clone();
                (
                    arg,
                    s::InputSpec::ConstantInput(s::InputToConstantInputSpec { name, value }),
                )
            }
            (InputKind::UserInput, a) => {
                let arg = s::Argument::AsTensor(tensor(a));
                (
                    arg.clone(),
                    s::InputSpec::UserInput(s::UserInputSpec { arg }),
                )
            }
            (InputKind::Parameter, a) => (
                s::Argument::AsTensor(tensor(a)),
                s::InputSpec::Parameter(s::InputToParameterSpec {
                    arg: tensor(a),
                    parameter_name: target()?,
                }),
            ),
            (InputKind::Buffer, a) => (
                s::Argument::AsTensor(tensor(a)),
                s::InputSpec::Buffer(s::InputToBufferSpec {
                    arg: tensor(a),
                    buffer_name: target()?,
                    persistent: spec.persistent.unwrap_or(true),
                }),
            ),
            (InputKind::ConstantTensor, a) => (
                s::Argument::AsTensor(tensor(a)),
                s::InputSpec::TensorConstant(s::InputToTensorConstantSpec {
                    arg: tensor(a),
                    tensor_constant_name: target()?,
                }),
            ),
        };
        inputs.push(input);
        input_specs.push(written);
    }
    let output_specs = sig
        .output_specs
        .iter()
        .map(output_spec)
        .collect::<Result<_, SaveError>>()?;
    Ok((
        inputs,
        s::GraphSignature {
            input_specs,
            output_specs,
        },
    ))
}

/// An output spec (a user output's argument is replaced by the graph's own output).
fn output_spec(spec: &crate::program::OutputSpec) -> Result<s::OutputSpec, SaveError> {
    let tensor = |a: &ArgumentSpec| s::TensorArgument {
        name: a.name().to_string(),
    };
    let target = || {
        spec.target
            .clone()
            .ok_or_else(|| unsavable(format!("the output `{}` has no target", spec.arg.name())))
    };
    Ok(match spec.kind {
        OutputKind::UserOutput => s::OutputSpec::UserOutput(s::UserOutputSpec {
            arg: s::Argument::AsTensor(tensor(&spec.arg)),
        }),
        OutputKind::BufferMutation => s::OutputSpec::BufferMutation(s::BufferMutationSpec {
            arg: tensor(&spec.arg),
            buffer_name: target()?,
        }),
        OutputKind::UserInputMutation => {
            s::OutputSpec::UserInputMutation(s::UserInputMutationSpec {
                arg: tensor(&spec.arg),
                user_input_name: target()?,
            })
        }
    })
}

/// Raw payloads and their config: `(config, [(file name, bytes)])`.
type Payloads = (s::PayloadConfig, Vec<(String, Vec<u8>)>);

fn payloads<'t>(
    tensors: impl Iterator<Item = (&'t str, &'t Tensor)>,
    prefix: &str,
    is_param: &dyn Fn(&str) -> bool,
) -> Result<Payloads, SaveError> {
    let mut config = BTreeMap::new();
    let mut files = Vec::new();
    for (i, (name, t)) in tensors.enumerate() {
        let storage = match t.state() {
            TensorState::Eager(storage) => storage,
            _ => {
                return Err(SaveError::NotEager {
                    name: name.to_string(),
                    message: "it is not an eager tensor".into(),
                })
            }
        };
        let param = is_param(name);
        let path_name = format!("{prefix}{i}");
        config.insert(
            name.to_string(),
            s::PayloadMeta {
                path_name: path_name.clone(),
                is_param: param,
                use_pickle: false,
                tensor_meta: Some(tensor_meta(&storage_meta(&storage), param)?),
            },
        );
        files.push((path_name, crate::serialize::safetensors::encode(&storage)));
    }
    Ok((s::PayloadConfig { config }, files))
}

fn write_archive<W: Write + Seek>(ep: &ExportedProgram, root: &str, w: W) -> Result<W, SaveError> {
    let json = serde_json::to_vec(&program_json(ep)?)
        .map_err(|e| unsavable(format!("the program JSON: {e}")))?;
    let params = ep.graph_signature().parameters();
    let is_param = |n: &str| params.contains(&n);
    let (weights, weight_files) = payloads(ep.state_dict().iter(), "weight_", &is_param)?;
    let (constants, constant_files) = payloads(ep.constants().iter(), "tensor_", &|_| false)?;
    let config_json = |c: &s::PayloadConfig| {
        serde_json::to_vec(c).map_err(|e| unsavable(format!("a payload config: {e}")))
    };
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        ("archive_format".into(), b"pt2".to_vec()),
        ("archive_version".into(), b"0".to_vec()),
        (".data/version".into(), b"6\n".to_vec()),
        ("byteorder".into(), b"little".to_vec()),
        ("models/model.json".into(), json),
        ("data/sample_inputs/model.pt".into(), Vec::new()),
        (
            "data/weights/model_weights_config.json".into(),
            config_json(&weights)?,
        ),
        (
            "data/constants/model_constants_config.json".into(),
            config_json(&constants)?,
        ),
    ];
    entries.extend(
        weight_files
            .into_iter()
            .map(|(n, b)| (format!("data/weights/{n}"), b)),
    );
    entries.extend(
        constant_files
            .into_iter()
            .map(|(n, b)| (format!("data/constants/{n}"), b)),
    );
    let entries: Vec<(String, Vec<u8>)> = entries
        .into_iter()
        .map(|(name, bytes)| (format!("{root}/{name}"), bytes))
        .collect();
    super::archive::write_stored_to(w, &entries).map_err(unsavable)
}

fn storage_meta(storage: &Storage) -> TensorMeta {
    let sizes = storage
        .shape()
        .iter()
        .map(|&d| SymInt::Int(d as i64))
        .collect();
    TensorMeta::new(storage.dtype(), sizes)
}
