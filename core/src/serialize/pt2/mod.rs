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
//!
//! ```
//! use ferrex::Tensor;
//!
//! // The tutorial's `MyModule` (`relu(lin(x + y))`), saved by `torch.export.save`.
//! let ep = ferrex::load("../tests/data/pt2/mymodule.pt2")?;
//! assert!(ep.to_string().contains("let linear: f32[8, 10] = aten::linear.default(add, p_lin_weight, p_lin_bias);"));
//! let (x, y) = (Tensor::randn([8, 100]), Tensor::randn([8, 100]));
//! let out = ep.module().call((x, y))?;
//! assert_eq!(out[0].shape(), vec![8, 10]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod extras;
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
mod zip;

#[cfg(test)]
mod tests;

use crate::error::LoadError;
use crate::graph::Graph;
use crate::module::SourceLine;
use crate::program::{
    ArgumentSpec, ConstantValue, ExportGraphSignature, ExportedProgram, InputKind, InputSpec,
    OutputKind, OutputSpec, RangeConstraints, TensorMap, ValueRange,
};
use crate::serialize::program::{cmp_from, intern};
use crate::symbolic::{parse_expr, Expr, Guard, ShapeEnv, SymInt, SymbolInfo, SymbolSource};

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

/// Reads a program from the bytes of a PyTorch `.pt2` archive; `path` names it in
/// errors.
pub fn from_bytes(bytes: &[u8], path: &str) -> Result<ExportedProgram, LoadError> {
    let mut ctx = Ctx {
        path: path.to_string(),
        entry: String::new(),
    };
    let parts = archive::Parts::open(bytes, &ctx)?;
    ctx.entry = format!("models/{}.json", parts.model);
    let model = parts.program(&ctx)?;
    let (state_dict, constants) = archive::state(&parts, &ctx)?;
    let gm = &model.graph_module;
    let read = convert::GraphReader::new(&ctx, &gm.graph, "graph".into()).read()?;
    let signature = signature(&ctx, &gm.signature, &read.mutations, &read.graph)?;
    crate::passes::verify(&read.graph).map_err(|e| ctx.err(format!("{}: {e}", ctx.entry)))?;
    check_state(&ctx, &read.graph, &signature, &state_dict, &constants)?;
    let (state_dict, constants) = (
        in_input_order(state_dict, &signature),
        in_input_order(constants, &signature),
    );
    let range_constraints = ranges(&ctx, &model.range_constraints)?;
    let mut shape_env = shape_env(&read.graph, &signature, &range_constraints);
    let mut arg_names = gm
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
    let (mut sources, mut guards, mut model_name) = (read.sources, Vec::new(), parts.model.clone());
    if let Some(extras) = read_extras(&ctx, gm)? {
        shape_env = extras.shape_env;
        guards = extras.guards;
        sources = extras.sources;
        arg_names = extras.arg_names;
        model_name = extras.model_name;
    }
    Ok(ExportedProgram::new(
        read.graph,
        signature,
        state_dict,
        constants,
        range_constraints,
        guards,
        shape_env,
        sources,
        arg_names,
        model_name,
    ))
}

/// What ferrex keeps in `metadata["ferrex"]` of an archive it wrote ([`Extras`]), read
/// back: guards, the shape environment with `Dim` names, source lines, names.
struct ReadExtras {
    shape_env: ShapeEnv,
    guards: Vec<Guard>,
    sources: Vec<SourceLine>,
    arg_names: Vec<String>,
    model_name: String,
}

fn read_extras(ctx: &Ctx, gm: &schema::GraphModule) -> Result<Option<ReadExtras>, LoadError> {
    let Some(text) = gm.metadata.get(EXTRAS_KEY) else {
        return Ok(None);
    };
    let bad = |e: String| ctx.err(format!("{}: metadata[\"{EXTRAS_KEY}\"]: {e}", ctx.entry));
    let x: Extras = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let expr = |t: &str| parse_expr(t).map_err(|e| bad(e.to_string()));
    let guards = x
        .guards
        .iter()
        .map(|g| {
            Ok(Guard {
                lhs: expr(&g.lhs)?,
                op: cmp_from(&g.op).map_err(bad)?,
                rhs: expr(&g.rhs)?,
            })
        })
        .collect::<Result<Vec<_>, LoadError>>()?;
    let mut symbols = Vec::new();
    for s in &x.symbols {
        let Some((symbol, 1, 0)) = expr(&s.symbol)?.as_linear() else {
            return Err(bad(format!("`{}` is not a symbol", s.symbol)));
        };
        let sources = s
            .sources
            .iter()
            .map(|src| SymbolSource {
                input: src.input.clone(),
                dim: src.dim,
                scale: src.scale,
                offset: src.offset,
            })
            .collect();
        symbols.push(SymbolInfo {
            symbol,
            dim_name: s.dim_name.clone(),
            min: s.min,
            max: s.max,
            hint: s.hint,
            sources,
        });
    }
    let sources = x
        .source_lines
        .iter()
        .map(|l| SourceLine {
            file: intern(&l.file),
            line: l.line,
            function: intern(&l.function),
            code: intern(&l.code),
        })
        .collect();
    Ok(Some(ReadExtras {
        shape_env: ShapeEnv { symbols },
        guards,
        sources,
        arg_names: x.arg_names,
        model_name: x.model_name,
    }))
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
    for (spec, value) in sig.output_specs.iter().zip(&outputs[mutations.len()..]) {
        let name = match value {
            crate::graph::Arg::Tensor(id) => graph.node(*id).name.clone(),
            _ => String::new(),
        };
        output_specs.push(output_spec(ctx, spec, name)?);
    }
    Ok(ExportGraphSignature {
        input_specs,
        output_specs,
    })
}

/// Every parameter, buffer and constant input has its tensor, of the dtype and static
/// sizes its placeholder expects.
fn check_state(
    ctx: &Ctx,
    graph: &Graph,
    sig: &ExportGraphSignature,
    state: &TensorMap,
    constants: &TensorMap,
) -> Result<(), LoadError> {
    let placeholders: Vec<_> = graph.placeholders().map(|(_, n)| n).collect();
    let specs: Vec<_> = sig
        .input_specs
        .iter()
        .filter(|s| !matches!(s.arg, ArgumentSpec::Constant { .. }))
        .collect();
    if placeholders.len() != specs.len() {
        return Err(ctx.err(format!(
            "{}: the graph has {} inputs but the signature lists {}",
            ctx.entry,
            placeholders.len(),
            specs.len()
        )));
    }
    for (node, spec) in placeholders.iter().zip(specs) {
        if node.name != spec.arg.name() {
            return Err(ctx.err(format!(
                "{}: input spec `{}` does not match the graph input `{}` in its place",
                ctx.entry,
                spec.arg.name(),
                node.name
            )));
        }
        let Some(target) = spec.target.as_deref() else {
            continue;
        };
        let t = state
            .get(target)
            .or_else(|| constants.get(target))
            .ok_or_else(|| {
                ctx.err(format!(
                "the {} `{target}` (input `{}`) is in neither data/weights/ nor data/constants/",
                spec.kind.as_str().to_lowercase().replace('_', " "),
                node.name
            ))
            })?;
        let (Ok(have), Some(want)) = (t.meta(), node.meta.first()) else {
            continue;
        };
        let fits = have.dtype == want.dtype
            && have.rank() == want.rank()
            && have
                .sizes
                .iter()
                .zip(&want.sizes)
                .all(|(h, w)| w.as_int().is_none() || h.as_int() == w.as_int());
        if !fits {
            return Err(ctx.err(format!(
                "`{target}` is {have} in the archive's data, but the graph's input `{}` is {want}",
                node.name
            )));
        }
    }
    Ok(())
}

/// The tensors in the order of the inputs that read them (parameters, then buffers,
/// then constants, as ferrex's state dicts are ordered), the rest after in file order.
fn in_input_order(map: TensorMap, sig: &ExportGraphSignature) -> TensorMap {
    let mut out = TensorMap::default();
    let targets = sig.input_specs.iter().filter_map(|s| s.target.as_deref());
    for key in targets.chain(map.keys()) {
        if let (None, Some(t)) = (out.get(key), map.get(key)) {
            out.insert(key.to_string(), t.clone());
        }
    }
    out
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
    for (key, r) in rc {
        let expr = range_key(key).map_err(|e| ctx.err(format!("{}: {e}", ctx.entry)))?;
        let range = ValueRange {
            lower: r.min_val.unwrap_or(i64::MIN),
            upper: r.max_val,
        };
        entries.push((expr, range));
    }
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
