//! The code generator: a compiled plan (`ferrex_runtime::plan`) walked once and written
//! out as a Rust module. `steps.rs` emits each step; this file the module around them.

mod blocks;
mod control;
mod dims;
mod entry;
mod folded;
mod items;
mod literal;
mod prepack;
mod steps;
mod steps_eager;
mod steps_kernels;
mod steps_views;

use std::collections::BTreeSet;
use std::fmt::Write;

use ferrex::program::{ArgumentSpec, InputKind, OutputKind};
use ferrex::{ExportedProgram, SymInt};
use ferrex_runtime::plan::{InputSource, PackSource, Plan};

use crate::archive::Stored;
use crate::{AotError, AotOptions, GeneratedCode};

/// Steps per generated function by default ([`crate::AotOptions::steps_per_function`]):
/// longer programs are split into `part0`, `part1`, … (one huge function is what makes
/// generated code slow to build).
pub const STEPS_PER_FUNCTION: usize = 200;

/// Where a value lives while `forward` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loc {
    /// User input `k` of `forward`.
    Input(usize),
    /// Constant `c` of the plan (a field of `Model`).
    Const(usize),
    /// A workspace slot.
    Slot(usize),
    /// Output `i` of the eager fallback of value `v` (workspace field `e{v}`).
    Eager(usize, usize),
}

/// A user input of the program: its placeholder, `forward` argument and static sizes.
struct UserInput {
    ident: String,
    name: String,
    sizes: Vec<SymInt>,
    /// `f32`, or `i64` (indices, read only by embeddings).
    dtype: &'static str,
    /// Its position among the call's leaves (constant inputs are leaves too).
    leaf: usize,
    /// For a buffer the program mutates: its target, kept in `Model` (field `b{k}`, `k`
    /// the input's index) from call to call, not an argument.
    buffer: Option<String>,
}

/// A leaf of `call`, in the interpreter's order: a tensor input, or a constant input
/// that must be passed with the exported value.
enum Leaf {
    Tensor(usize),
    Constant(String, ferrex::program::ConstantValue),
}

/// The generator's state while one plan is written out.
struct Gen<'a> {
    ep: &'a ExportedProgram,
    plan: &'a Plan,
    /// The program's plan with data, when the options ask to prepack.
    data: Option<&'a Plan>,
    stored: &'a Stored,
    options: &'a AotOptions,
    loc: Vec<Option<Loc>>,
    /// Where a value in a slot starts (an expression; none: at 0), for the select or
    /// slice planned as a run of its source's buffer.
    slot_at: Vec<Option<String>>,
    inputs: Vec<UserInput>,
    /// Constants `forward` reads (fields `c{i}` of `Model`).
    const_fields: BTreeSet<usize>,
    /// The constants eager calls read as tensors: `t{c}` fields made once from `c{c}`.
    const_tensors: BTreeSet<usize>,
    /// Packed GEMM weights (fields `w{step}`), by step.
    packs: Vec<(usize, PackSource)>,
    /// Convolution weights prepared for the kernel (field `k{n}` at index `n`): the
    /// constant and the `ConvGeom` expression of the step's (static) geometry.
    conv_weights: Vec<(usize, String)>,
    /// Fused programs (fields `f{step}`), by step.
    programs: Vec<(usize, ferrex_runtime::fused::FusedProgram)>,
    /// Elements of each workspace slot (at the example sizes).
    slot_len: Vec<usize>,
    /// The symbolic element counts each slot holds, for sizing it per call.
    slot_needs: Vec<Vec<SymInt>>,
    /// Per-call sizes of a program with dynamic dims.
    dims: dims::DimTable,
    /// The ops of the eager fallbacks (fields `o{i}` of `Model`).
    ops: Vec<String>,
    /// The higher-order ops `cond` / `map` steps run, by target (fields `hop{i}` of
    /// `Model`, looked up once in `Model::new`).
    hops: Vec<String>,
    /// The values eager fallbacks compute (fields `e{v}` of `Workspace`).
    eager: Vec<usize>,
    /// `call`'s leaves, in order.
    leaves: Vec<Leaf>,
    /// Buffer updates at the end of `forward`: `(input index, value expression)`.
    buffer_writes: Vec<(usize, String)>,
    /// `cond` / `map` subgraphs: where this plan is (`""` for the program, `"0_1"` for
    /// subplan 1 of subplan 0), the next free step key (fields `f{key}` / `w{key}` of
    /// `Model` are per step, over all plans), the subgraphs' generated items, and the
    /// nested workspaces this plan's workspace holds (`h{index}`).
    sub: control::SubState,
    /// Slots grown right before the step that writes them (a size read from data).
    pending_fits: Vec<String>,
    /// The output spec of each tensor output `forward` writes, and the SymInt outputs
    /// `call` returns (`(spec index, i64 expression)`).
    output_specs: Vec<usize>,
    int_outputs: Vec<(usize, String)>,
}

/// Generates the module body for `ep`, planned as `plan` (a structure-only plan:
/// `ferrex_runtime::plan_structure`); `data`, the plan with data, to prepack.
pub(crate) fn module(
    ep: &ExportedProgram,
    plan: &Plan,
    data: Option<&Plan>,
    stored: &Stored,
    archive: &[u8],
    options: &AotOptions,
) -> Result<GeneratedCode, AotError> {
    let mut g = Gen::new(ep, plan, stored, options);
    g.data = data;
    g.sub.next_key = plan.steps.len();
    g.bind_inputs()?;
    let mut bodies = Vec::with_capacity(plan.steps.len());
    for (i, step) in plan.steps.iter().enumerate() {
        let body = g.step(i, step)?;
        if let Some(why) = g.dims.take_error() {
            return Err(g.unsupported(format!("`{}`: {why}", step.info.name)));
        }
        bodies.push(body);
    }
    let outputs = g.outputs()?;
    let outputs = g.split_buffer_writes(outputs)?;
    let mut forward = String::new();
    g.forward(&mut forward, &bodies, &outputs);
    g.call(&mut forward, &outputs);
    if let Some(why) = g.dims.take_error() {
        return Err(g.unsupported(why));
    }
    let ranks: Vec<(String, usize)> = (g.inputs.iter())
        .map(|i| (i.name.clone(), i.sizes.len()))
        .collect();
    let dims = g.dims_items(&ranks);
    let mut code = String::new();
    g.header(&mut code, archive);
    let (weight_bytes, prepacked) = g.model(&mut code)?;
    code.push_str(&dims);
    g.workspace(&mut code);
    code.push_str(&g.sub.items);
    code.push_str(&forward);
    Ok(GeneratedCode {
        code,
        steps: plan.steps.len(),
        weight_bytes,
        prepacked,
    })
}

impl<'a> Gen<'a> {
    fn new(
        ep: &'a ExportedProgram,
        plan: &'a Plan,
        stored: &'a Stored,
        options: &'a AotOptions,
    ) -> Gen<'a> {
        Gen {
            ep,
            plan,
            data: None,
            stored,
            options,
            loc: vec![None; plan.n_values],
            slot_at: vec![None; plan.n_values],
            inputs: Vec::new(),
            const_fields: BTreeSet::new(),
            const_tensors: BTreeSet::new(),
            packs: Vec::new(),
            conv_weights: Vec::new(),
            programs: Vec::new(),
            slot_len: plan.slot_sizes.clone(),
            slot_needs: Vec::new(),
            dims: dims::DimTable::default(),
            ops: Vec::new(),
            hops: Vec::new(),
            eager: Vec::new(),
            leaves: Vec::new(),
            buffer_writes: Vec::new(),
            sub: control::SubState::default(),
            pending_fits: Vec::new(),
            output_specs: Vec::new(),
            int_outputs: Vec::new(),
        }
    }

    fn unsupported(&self, message: impl Into<String>) -> AotError {
        AotError::Unsupported {
            path: self.options.display_name.clone(),
            message: message.into(),
        }
    }

    /// The placeholders: user inputs become `forward`'s arguments, frozen ones constants.
    fn bind_inputs(&mut self) -> Result<(), AotError> {
        let specs = &self.ep.graph_signature().input_specs;
        for &(v, c) in &self.plan.const_values {
            self.loc[v] = Some(Loc::Const(c));
        }
        for &(v, source) in &self.plan.inputs {
            match source {
                InputSource::Frozen(c) => self.loc[v] = Some(Loc::Const(c)),
                InputSource::Runtime(k) => {
                    let spec = (specs.iter())
                        .filter(|s| !matches!(s.arg, ArgumentSpec::Constant { .. }))
                        .nth(k)
                        .filter(|s| matches!(s.kind, InputKind::UserInput | InputKind::Buffer));
                    let name = spec.map(|s| s.arg.name().to_string()).ok_or_else(|| {
                        self.unsupported(format!("placeholder {k} is not a user input"))
                    })?;
                    let buffer = spec.filter(|s| s.kind == InputKind::Buffer);
                    let buffer = buffer.map(|s| s.target.clone().unwrap_or_default());
                    let meta = self.plan.metas.get(v).and_then(|m| m.first());
                    let dtype = match meta.map(|m| m.dtype) {
                        Some(ferrex::DType::F32) => "f32",
                        Some(ferrex::DType::I64) => "i64",
                        Some(ferrex::DType::Bool) => "bool",
                        _ => {
                            return Err(self.unsupported(format!(
                                "input `{name}` is not an f32, i64 or bool tensor"
                            )))
                        }
                    };
                    let meta = meta.ok_or_else(|| self.unsupported("no meta"))?;
                    let sizes = meta.sizes.clone();
                    let ident = literal::ident(&name, self.inputs.len());
                    self.loc[v] = Some(Loc::Input(self.inputs.len()));
                    let leaf = (specs.iter())
                        .filter(|s| s.kind == InputKind::UserInput)
                        .position(|s| s.arg.name() == name)
                        .unwrap_or(0);
                    self.inputs.push(UserInput {
                        ident,
                        name,
                        sizes,
                        dtype,
                        leaf,
                        buffer,
                    });
                }
            }
        }
        for spec in specs.iter().filter(|s| s.kind == InputKind::UserInput) {
            self.leaves.push(match &spec.arg {
                ArgumentSpec::Constant { name, value } => {
                    Leaf::Constant(name.clone(), value.clone())
                }
                a => Leaf::Tensor(
                    (self.inputs.iter())
                        .position(|i| i.name == a.name())
                        .ok_or_else(|| {
                            self.unsupported(format!("no placeholder for `{}`", a.name()))
                        })?,
                ),
            });
        }
        if let Some(i) = (self.inputs.iter()).find(|i| {
            i.buffer.is_some() && (i.dtype != "f32" || i.sizes.iter().any(SymInt::is_symbolic))
        }) {
            return Err(self.unsupported(format!(
                "the mutated buffer `{}` is not an f32 tensor of static sizes",
                i.name
            )));
        }
        // A mutated buffer is not a leaf of the call: no binder lines.
        let sizes: Vec<(String, Vec<SymInt>)> = (self.inputs.iter())
            .map(|i| match i.buffer {
                Some(_) => (i.name.clone(), Vec::new()),
                None => (i.name.clone(), i.sizes.clone()),
            })
            .collect();
        self.bind_symbols(&sizes);
        Ok(())
    }

    /// The dtype and sizes of constant `c` of the plan.
    fn const_meta(&self, c: usize) -> Option<(ferrex::DType, Vec<usize>)> {
        let meta = self.plan.const_metas.get(c)?;
        Some((meta.dtype, meta.static_shape()?))
    }

    /// The f32 sizes of value `v` (its node's first meta): literals, or expressions of
    /// the symbols the inputs bind.
    fn value_sizes(&self, v: usize) -> Result<Vec<SymInt>, AotError> {
        let name = self.plan.names.get(v).map_or("?", String::as_str);
        let meta = self.plan.metas.get(v).and_then(|m| m.first());
        let meta = meta
            .filter(|m| m.dtype == ferrex::DType::F32)
            .ok_or_else(|| self.unsupported(format!("`{name}` is not an f32 tensor")))?;
        Ok(meta.sizes.clone())
    }

    /// The outputs of `forward` (user outputs and input mutations), the buffer
    /// mutations set aside as writes into `Model`'s state.
    fn split_buffer_writes(
        &mut self,
        outputs: Vec<(String, Vec<SymInt>)>,
    ) -> Result<Vec<(String, Vec<SymInt>)>, AotError> {
        let specs = &self.ep.graph_signature().output_specs;
        let mut kept = Vec::new();
        let mut kept_specs = Vec::new();
        for (out, k) in outputs
            .into_iter()
            .zip(std::mem::take(&mut self.output_specs))
        {
            let spec = specs.get(k);
            if spec.map(|s| s.kind) != Some(OutputKind::BufferMutation) {
                kept.push(out);
                kept_specs.push(k);
                continue;
            }
            let target = spec.and_then(|s| s.target.as_deref());
            let input = (self.inputs.iter())
                .position(|i| i.buffer.is_some() && i.buffer.as_deref() == target)
                .ok_or_else(|| {
                    self.unsupported(format!("a mutated buffer `{target:?}` with no placeholder"))
                })?;
            if out.0 != self.inputs[input].ident {
                self.buffer_writes.push((input, out.0));
            }
        }
        self.output_specs = kept_specs;
        Ok(kept)
    }

    /// The tensor outputs: `(expression, sizes)` each; SymInt outputs set aside for
    /// `call` (`int_outputs`).
    fn outputs(&mut self) -> Result<Vec<(String, Vec<SymInt>)>, AotError> {
        let mut out = Vec::new();
        for (k, a) in self.plan.outputs.iter().enumerate() {
            let n = match a {
                ferrex::graph::Argument::Tensor(n) => n,
                ferrex::graph::Argument::Int(s) => {
                    self.int_outputs.push((k, self.int_value(s)));
                    continue;
                }
                _ => return Err(self.unsupported("an output is not a tensor or a SymInt")),
            };
            self.output_specs.push(k);
            if self.loc.get(n.0).copied().flatten().is_none() {
                return Err(self.unsupported(format!(
                    "output `{}` is not computed by a generated step",
                    self.plan.names.get(n.0).map_or("?", String::as_str)
                )));
            }
            let read = self.read(ferrex_runtime::plan::Operand::Val(n.0))?;
            out.push((read.expr, read.sizes));
        }
        Ok(out)
    }

    /// The comment at the top: what was generated from what, and the plan.
    fn header(&self, code: &mut String, archive: &[u8]) {
        let o = self.options;
        let _ = writeln!(
            code,
            "// @generated by ferrex-aot {} from `{}` (model `{}`). Do not edit: regenerate\n\
             // with `{}`.\n// Declare it as `#[rustfmt::skip] mod NAME;` so that `cargo fmt` leaves it as\n\
             // generated.\n//\n// The plan, one step per line:",
            env!("CARGO_PKG_VERSION"),
            o.display_name,
            self.ep.model_name(),
            o.regenerate
        );
        let plan = ferrex_runtime::describe(self.plan);
        for line in plan.lines() {
            let _ = writeln!(code, "//   {line}");
        }
        if plan.contains(", kept per input size\n") {
            // The runtime keeps them; this module has no state between calls to keep them in.
            code.push_str("// This module runs the steps kept per input size on every call.\n");
        }
        code.push_str(
            "#![allow(clippy::all, clippy::pedantic, clippy::too_many_lines, unused)]\n\n",
        );
        let fingerprint: Vec<String> = (self.stored.json.iter())
            .map(|&(start, len)| {
                format!(
                    "({start}, {len}, {:#018x})",
                    crate::fnv1a(archive, start, len)
                )
            })
            .collect();
        let _ = writeln!(
            code,
            "/// The archive this module was generated from: its length, and where its JSON\n\
             /// entries lie with their FNV-1a (`Model::from_bytes` refuses another archive).\n\
             const ARCHIVE_LEN: usize = {};\n\
             const FINGERPRINT: &[(usize, usize, u64)] = &[{}];\n\
             const ARCHIVE_NAME: &str = {:?};",
            archive.len(),
            fingerprint.join(", "),
            o.display_name
        );
        if !o.embed_weights {
            code.push('\n');
            return;
        }
        let _ = writeln!(
            code,
            "/// The archive, embedded; the weights are read from it.\n\
             const ARCHIVE: &[u8] = include_bytes!({:?});\n\
             const _: () = assert!(\n    ARCHIVE.len() == {},\n    {:?}\n);",
            o.archive_path,
            archive.len(),
            stale_message(o)
        );
        for (&(start, len), crc) in self.stored.json.iter().zip(&self.stored.json_crcs) {
            let check = match crc {
                Some((at, crc)) => {
                    format!("::ferrex_aot::rt::u32_le_at(ARCHIVE, {at}) == {crc:#010x}")
                }
                None => format!(
                    "::ferrex_aot::rt::fnv1a(ARCHIVE, {start}, {len}) == {:#018x}",
                    crate::fnv1a(archive, start, len)
                ),
            };
            let _ = writeln!(
                code,
                "const _: () = assert!(\n    {check},\n    {:?}\n);",
                stale_message(o)
            );
        }
        code.push('\n');
    }
}

fn stale_message(o: &AotOptions) -> String {
    format!(
        "`{}` is not the archive this code was generated from: run `{}` again",
        o.display_name, o.regenerate
    )
}
