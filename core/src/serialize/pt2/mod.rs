//! Reading PyTorch's own `.pt2` archives — what `torch.export.save` of PyTorch 2.15
//! writes — into ferrex's [`ExportedProgram`], so that `ferrex::load` and
//! `ferrex_runtime::load` run PyTorch's exported programs.
//!
//! | part | file |
//! |---|---|
//! | PyTorch's JSON schema 8.x, as serde types (read and written) | `schema.rs` |
//! | the zip's central directory, stored entries, zip64, every offset checked | `zip.rs` |
//! | top folder, version files, model JSON, weights and constants from raw storages | `archive.rs` |
//! | sympy `srepr` size expressions | `sympy.rs` |
//! | graph, signature, in-place ops functionalized, ranges | `convert.rs` and here |
//! | writing: the program JSON and the archive | `save.rs` |
//! | writing: the graph (`torch.ops.aten.*` targets, getitems folded into outputs, subgraphs) | `save_graph.rs` |
//! | writing: sizes as sympy `srepr` and named SymInt values (`sym_size.int`, `_operator`) | `sym_values.rs` |
//! | what ferrex keeps beside PyTorch's fields (`metadata["ferrex"]`) | `extras.rs` |
//!
//! Both of PyTorch's IRs load: the default one (in-place `add_`, `sym_size.int`,
//! `_operator` SymInt arithmetic, `cond` with subgraphs) and the core ATen one. SymInt
//! values are replaced by their expressions from `sym_int_values` (ferrex keeps sizes as
//! inline expressions). An op that is not in the registry is [`LoadError::UnknownOp`]
//! naming the node; another schema major version or archive version is
//! [`LoadError::NewerVersion`]; anything else wrong with the file is a
//! [`LoadError::Program`] naming the entry and the place in it.

pub(crate) mod extras;
mod save;
mod save_graph;
pub mod schema;
mod sym_values;

pub use extras::{Extras, EXTRAS_KEY};
pub use save::{program_json, save, to_bytes, TORCH_VERSION};
pub use save_graph::pytorch_target;
pub use sym_values::srepr;

mod archive;
mod convert;
mod sympy;
pub mod zip;

#[cfg(test)]
mod tests;

use crate::error::LoadError;
use crate::graph::Graph;
use crate::program::{
    ArgumentSpec, ConstantValue, ExportGraphSignature, ExportedProgram, InputKind, InputSpec,
    OutputKind, OutputSpec, RangeConstraints, TensorMap, ValueRange,
};
use crate::symbolic::{parse_expr, Expr, ShapeEnv, SymInt, SymbolInfo, SymbolSource};

pub use archive::{read_entries, write_stored, StoredMetas};
pub use sympy::parse_srepr;

/// Where errors happen: the file and the model entry.
pub(crate) struct Ctx {
    path: String,
    entry: String,
}

impl Ctx {
    fn err(&self, message: impl Into<String>) -> LoadError {
        LoadError::Program {
            path: self.path.clone(),
            message: message.into(),
        }
    }
}

/// Whether `bytes` are a PyTorch archive (a zip with `NAME/archive_format` and
/// `NAME/archive_version`), which [`from_bytes`] reads.
pub fn is_pytorch_archive(bytes: &[u8]) -> bool {
    archive::is_pytorch_archive(bytes)
}

/// Loads a program saved by [`save`], or by PyTorch's `torch.export.save`: graph,
/// signature, state, constants, range constraints and guards, without the model's
/// source. Every problem with the file is a [`LoadError`] naming the file and what is
/// wrong.
///
/// ```
/// use ferrex::prelude::*;
///
/// #[export_module]
/// struct Scale {
///     #[buffer]
///     factor: Tensor,
/// }
///
/// #[export_module]
/// impl Scale {
///     fn forward(&self, x: &Tensor) -> Tensor {
///         (x * &self.factor).relu()
///     }
/// }
///
/// let ep = ferrex::export(&Scale { factor: Tensor::full([3], 2.0) }, (Tensor::randn([2, 3]),))?;
/// let path = std::env::temp_dir().join(format!("scale-{}.pt2", std::process::id()));
/// ferrex::save(&ep, &path)?;
/// let loaded = ferrex::load(&path)?; // no `Scale` needed from here on
/// assert_eq!(loaded.to_string(), ep.to_string());
/// let x = Tensor::randn([2, 3]);
/// let (a, b) = (ep.module().call((x.copy(),))?, loaded.module().call((x,))?);
/// assert_eq!(a[0].to_vec::<f32>()?, b[0].to_vec::<f32>()?);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(path: impl AsRef<std::path::Path>) -> Result<ExportedProgram, LoadError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| LoadError::Io {
        path: shown.clone(),
        source: e,
    })?;
    from_bytes(&bytes, &shown)
}

/// Reads a program from the bytes of a PyTorch `.pt2` archive; `path` names it in
/// errors.
pub fn from_bytes(bytes: &[u8], path: &str) -> Result<ExportedProgram, LoadError> {
    read(bytes, path, None)
}

/// A program read for its structure only ([`structure_from_bytes`]).
#[derive(Debug)]
pub struct ProgramStructure {
    /// The program: graph, signature, ranges, guards as [`from_bytes`] reads them; each
    /// weight and constant is a tensor whose every use is an error (its data was not
    /// read), so the program cannot run.
    pub program: ExportedProgram,
    /// The dtype and sizes of every stored tensor, by fully qualified name.
    pub stored: StoredMetas,
}

/// Reads what a code generator needs of a `.pt2` archive, in a time independent of its
/// weights: the JSON entries are read and CRC-checked and the program validated as
/// [`from_bytes`] does (the stored tensors' metas checked against the placeholders),
/// while the weight and constant entries are only located and their sizes checked
/// against their metas — neither read, CRC-checked nor copied (their bytes may be
/// anything, zeros in a file read sparsely). Loading the program to run it checks them.
pub fn structure_from_bytes(bytes: &[u8], path: &str) -> Result<ProgramStructure, LoadError> {
    let mut stored = StoredMetas::new();
    let program = read(bytes, path, Some(&mut stored))?;
    Ok(ProgramStructure { program, stored })
}

/// [`from_bytes`], or with `stored` [`structure_from_bytes`].
fn read(
    bytes: &[u8],
    path: &str,
    mut stored: Option<&mut StoredMetas>,
) -> Result<ExportedProgram, LoadError> {
    let mut ctx = Ctx {
        path: path.to_string(),
        entry: String::new(),
    };
    let parts = archive::Parts::open(bytes, &ctx)?;
    ctx.entry = format!("models/{}.json", parts.model);
    let model = parts.program(&ctx)?;
    let (state_dict, constants) = archive::state(&parts, &ctx, stored.as_deref_mut())?;
    let gm = &model.graph_module;
    let read = convert::GraphReader::new(&ctx, &gm.graph, "graph".into()).read()?;
    check_output_names(&ctx, &gm.signature, &gm.graph.outputs)?;
    let signature = signature(&ctx, &gm.signature, &read.mutations, &read.graph)?;
    crate::passes::verify(&read.graph).map_err(|e| ctx.err(format!("{}: {e}", ctx.entry)))?;
    let (state_dict, constants) = (
        in_signature_order(state_dict, &signature),
        in_signature_order(constants, &signature),
    );
    let range_constraints = ranges(&ctx, &model.range_constraints)?;
    let shape_env = shape_env(&read.graph, &signature, &range_constraints);
    let arg_names = gm
        .module_call_graph
        .iter()
        .find(|e| e.fqn.is_empty())
        .and_then(|e| e.signature.as_ref()?.forward_arg_names.clone())
        .filter(|names| names.len() == signature.user_inputs().count())
        .unwrap_or_else(|| {
            signature
                .user_inputs()
                .map(|s| s.arg.name().to_string())
                .collect()
        });
    let mut restored = extras::Restored {
        model_name: parts.model.clone(),
        arg_names,
        guards: Vec::new(),
        shape_env,
        sources: read.sources,
        assumed_constants: Vec::new(),
    };
    // A program ferrex wrote carries what PyTorch's format has no field for.
    if let Some(extras) =
        Extras::read(&gm.metadata).map_err(|e| ctx.err(format!("{}: {e}", ctx.entry)))?
    {
        restored = extras
            .restore()
            .map_err(|e| ctx.err(format!("{}: {e}", ctx.entry)))?;
    }
    let ep = ExportedProgram::new(
        read.graph,
        signature,
        state_dict,
        constants,
        range_constraints,
        restored.guards,
        restored.shape_env,
        restored.sources,
        restored.arg_names,
        restored.model_name,
    )
    .with_assumed_constants(restored.assumed_constants);
    crate::program::validate::validate(&ep, stored.as_deref())
        .map_err(|e| ctx.err(format!("{}: {e}", ctx.entry)))?;
    Ok(ep)
}

/// The payload configs are keyed maps, so their order is lost; ferrex (like PyTorch's
/// module) keeps state in the order the signature lists it, then anything unused.
fn in_signature_order(map: TensorMap, signature: &ExportGraphSignature) -> TensorMap {
    let mut ordered = TensorMap::default();
    for target in signature
        .input_specs
        .iter()
        .filter_map(|s| s.target.as_deref())
    {
        if let (Some(t), None) = (map.get(target), ordered.get(target)) {
            ordered.insert(target.to_string(), t.clone());
        }
    }
    for (name, t) in map.iter() {
        if ordered.get(name).is_none() {
            ordered.insert(name.to_string(), t.clone());
        }
    }
    ordered
}

fn input_spec(ctx: &Ctx, spec: &schema::InputSpec) -> Result<InputSpec, LoadError> {
    use schema::InputSpec as S;
    let tensor = |t: &schema::TensorArgument| ArgumentSpec::Tensor {
        name: t.name.clone(),
    };
    let (kind, arg, target, persistent) = match spec {
        S::UserInput(u) => match &u.arg {
            schema::Argument::AsTensor(t) => (InputKind::UserInput, tensor(t), None, None),
            _ => {
                return Err(ctx.err(format!(
                    "{}: a user input that is not a tensor is not supported",
                    ctx.entry
                )))
            }
        },
        S::Parameter(p) => (
            InputKind::Parameter,
            tensor(&p.arg),
            Some(p.parameter_name.clone()),
            None,
        ),
        S::Buffer(b) => (
            InputKind::Buffer,
            tensor(&b.arg),
            Some(b.buffer_name.clone()),
            Some(b.persistent),
        ),
        S::TensorConstant(c) => (
            InputKind::ConstantTensor,
            tensor(&c.arg),
            Some(c.tensor_constant_name.clone()),
            None,
        ),
        S::ConstantInput(c) => {
            let value = match &c.value {
                schema::ConstantValue::AsNone(_) => ConstantValue::None,
                schema::ConstantValue::AsInt(v) => ConstantValue::Int(*v),
                schema::ConstantValue::AsFloat(v) => ConstantValue::Float(v.0),
                schema::ConstantValue::AsString(v) => ConstantValue::Str(v.clone()),
                schema::ConstantValue::AsBool(v) => ConstantValue::Bool(*v),
            };
            let arg = ArgumentSpec::Constant {
                name: c.name.clone(),
                value,
            };
            (InputKind::UserInput, arg, None, None)
        }
        S::CustomObj(_) | S::Token(_) => {
            return Err(ctx.err(format!(
                "{}: custom-object and token inputs are not supported",
                ctx.entry
            )))
        }
    };
    Ok(InputSpec {
        kind,
        arg,
        target,
        persistent,
    })
}

/// What a user output is: a tensor node, a SymInt node (`add`), or a constant, with the
/// names ferrex's export gives them.
fn output_argument(
    graph: &Graph,
    index: usize,
    value: &crate::graph::Arg,
    spec: &schema::OutputSpec,
) -> ArgumentSpec {
    use crate::graph::Arg;
    let constant = |value| ArgumentSpec::Constant {
        name: format!("output_{index}"),
        value,
    };
    match value {
        Arg::Sym(id) => ArgumentSpec::SymInt {
            name: graph.node(*id).name.clone(),
        },
        Arg::Tensor(id) => ArgumentSpec::Tensor {
            name: graph.node(*id).name.clone(),
        },
        Arg::Int(SymInt::Int(v)) => constant(ConstantValue::Int(*v)),
        Arg::Int(s) => ArgumentSpec::SymInt {
            name: s.to_string(),
        },
        _ => constant(match spec {
            schema::OutputSpec::UserOutput(u) => match &u.arg {
                schema::Argument::AsFloat(f) => ConstantValue::Float(f.0),
                schema::Argument::AsBool(b) => ConstantValue::Bool(*b),
                schema::Argument::AsString(t) => ConstantValue::Str(t.clone()),
                _ => ConstantValue::None,
            },
            _ => ConstantValue::None,
        }),
    }
}

fn output_spec(
    ctx: &Ctx,
    spec: &schema::OutputSpec,
    name: String,
) -> Result<OutputSpec, LoadError> {
    use schema::OutputSpec as S;
    let arg = ArgumentSpec::Tensor { name };
    Ok(match spec {
        S::UserOutput(_) => OutputSpec {
            kind: OutputKind::UserOutput,
            arg,
            target: None,
        },
        S::BufferMutation(b) => OutputSpec {
            kind: OutputKind::BufferMutation,
            arg,
            target: Some(b.buffer_name.clone()),
        },
        S::UserInputMutation(u) => OutputSpec {
            kind: OutputKind::UserInputMutation,
            arg,
            target: Some(u.user_input_name.clone()),
        },
        _ => {
            return Err(ctx.err(format!(
                "{}: loss, gradient, token and parameter-mutation outputs are not supported \
                 (ferrex reads inference programs)",
                ctx.entry
            )))
        }
    })
}

/// Each output spec names the graph output in its place (the signature read below takes
/// the names from the graph, so a spec naming another value would go unnoticed).
fn check_output_names(
    ctx: &Ctx,
    sig: &schema::GraphSignature,
    outputs: &[schema::Argument],
) -> Result<(), LoadError> {
    use schema::OutputSpec as S;
    for (i, (spec, value)) in sig.output_specs.iter().zip(outputs).enumerate() {
        let named = match spec {
            S::UserOutput(u) => match &u.arg {
                schema::Argument::AsTensor(t) => Some(&t.name),
                _ => None,
            },
            S::BufferMutation(b) => Some(&b.arg.name),
            S::UserInputMutation(u) => Some(&u.arg.name),
            _ => None,
        };
        let value = match value {
            schema::Argument::AsTensor(t) => Some(&t.name),
            _ => None,
        };
        if let (Some(named), Some(value)) = (named, value) {
            if named != value {
                return Err(ctx.err(format!(
                    "{}: output spec {i} names `{named}`, but the graph's output {i} is \
                     `{value}`",
                    ctx.entry
                )));
            }
        }
    }
    Ok(())
}

/// The signature: PyTorch's specs, preceded by the mutations in-place ops made (a
/// buffer's → BUFFER_MUTATION, a user input's → USER_INPUT_MUTATION), as functional
/// programs list them. Output names are those of the graph's output values.
fn signature(
    ctx: &Ctx,
    sig: &schema::GraphSignature,
    mutations: &[(String, String)],
    graph: &Graph,
) -> Result<ExportGraphSignature, LoadError> {
    let input_specs = sig
        .input_specs
        .iter()
        .map(|s| input_spec(ctx, s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut output_specs = Vec::new();
    for (input, value) in mutations {
        let spec = input_specs.iter().find(|s| s.arg.name() == input);
        let (kind, target) = match spec.map(|s| (s.kind, s.target.clone())) {
            Some((InputKind::Buffer, target)) => (OutputKind::BufferMutation, target),
            Some((InputKind::UserInput, _)) => (OutputKind::UserInputMutation, Some(input.clone())),
            _ => {
                return Err(ctx.err(format!(
                    "{}: the program mutates `{input}`, which is not a buffer or a user input",
                    ctx.entry
                )))
            }
        };
        let arg = ArgumentSpec::Tensor {
            name: value.clone(),
        };
        output_specs.push(OutputSpec { kind, arg, target });
    }
    let outputs = graph.outputs();
    if outputs.len() != mutations.len() + sig.output_specs.len() {
        return Err(ctx.err(format!(
            "{}: the graph has {} outputs but the signature lists {}",
            ctx.entry,
            outputs.len() - mutations.len(),
            sig.output_specs.len()
        )));
    }
    for (i, (spec, value)) in sig
        .output_specs
        .iter()
        .zip(&outputs[mutations.len()..])
        .enumerate()
    {
        let mut read = output_spec(ctx, spec, String::new())?;
        read.arg = output_argument(graph, i, value, spec);
        output_specs.push(read);
    }
    Ok(ExportGraphSignature {
        input_specs,
        output_specs,
    })
}

/// A range-constraint key: `s77`, `s17 + 1` (sympy's `str`), or an `srepr`.
fn range_key(key: &str) -> Result<Expr, String> {
    parse_expr(key)
        .map_err(|e| e.to_string())
        .or_else(|first| parse_srepr(key).map_err(|_| format!("range constraint `{key}`: {first}")))
}

fn ranges(
    ctx: &Ctx,
    rc: &schema::OrderedMap<schema::RangeConstraint>,
) -> Result<RangeConstraints, LoadError> {
    let mut entries = Vec::new();
    for (key, r) in &rc.0 {
        let expr = range_key(key).map_err(|e| ctx.err(format!("{}: {e}", ctx.entry)))?;
        let range = ValueRange {
            lower: r.min_val.unwrap_or(i64::MIN),
            upper: r.max_val,
        };
        entries.push((expr, range));
    }
    // In the file's order, which is the order PyTorch prints (`{s17 + 1: …, s17: …}`).
    Ok(RangeConstraints { entries })
}

/// The shape environment: each symbol of the user inputs' sizes, its range, example
/// value and the input dims it is read from (`x.size()[0]`), for run-time messages.
fn shape_env(graph: &Graph, sig: &ExportGraphSignature, rc: &RangeConstraints) -> ShapeEnv {
    let mut env = ShapeEnv::default();
    let user: Vec<&str> = sig.user_inputs().map(|s| s.arg.name()).collect();
    for (_, node) in graph
        .placeholders()
        .filter(|(_, n)| user.contains(&n.name.as_str()))
    {
        let Some(meta) = node.meta.first() else {
            continue;
        };
        for (dim, size) in meta.sizes.iter().enumerate() {
            let SymInt::Sym { expr, hint } = size else {
                continue;
            };
            let Some((symbol, scale, offset)) = expr.as_linear() else {
                continue;
            };
            let source = SymbolSource {
                input: node.name.clone(),
                dim,
                scale,
                offset,
            };
            if let Some(info) = env.symbols.iter_mut().find(|i| i.symbol == symbol) {
                info.sources.push(source);
                continue;
            }
            let range = rc
                .entries
                .iter()
                .find(|(e, _)| *e == Expr::symbol(symbol))
                .map(|(_, r)| *r);
            env.symbols.push(SymbolInfo {
                symbol,
                dim_name: symbol.to_string(),
                min: range.map_or(0, |r| r.lower),
                max: range.and_then(|r| r.upper),
                hint: hint
                    .checked_sub(offset)
                    .and_then(|v| v.checked_div(scale))
                    .unwrap_or(0),
                sources: vec![source],
            });
        }
    }
    env
}
