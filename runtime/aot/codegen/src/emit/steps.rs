//! One block of code per step of the plan, calling the step functions the plan's
//! runner calls (`ferrex_runtime::step`) and the kernels (`ferrex_kernels`).

use std::fmt::Write;

use ferrex::SymInt;
use ferrex_runtime::plan::{Epilogue, GemmB, GemmStep, Kind, Operand, PackSource, ReadView, Step};

use super::literal::location;
use super::{Gen, Loc};
use crate::AotError;

const RT: &str = "::ferrex_aot::rt";

/// An operand as generated code reads it: a `&[f32]` expression and its sizes.
pub(super) struct Read {
    pub(super) expr: String,
    pub(super) sizes: Vec<SymInt>,
    pub(super) slot: Option<usize>,
}

/// The product of `s` (a literal when every size is one).
pub(super) fn numel(s: &[SymInt]) -> SymInt {
    s.iter().fold(SymInt::Int(1), |a, d| a.mul(d))
}

/// Whether two sizes are the same for every value of the symbols.
pub(super) fn same(a: &SymInt, b: &SymInt) -> bool {
    a.expr() == b.expr()
}

impl Gen<'_> {
    /// The code of step `i` (a block), with a comment naming its node, op and source.
    pub(super) fn step(&mut self, i: usize, step: &Step) -> Result<String, AotError> {
        let info = &step.info;
        let at = info
            .source
            .map(|l| format!(" at {}:{}", l.file, l.line))
            .unwrap_or_default();
        let mut code = format!("        // {}: {}{at}\n", info.name, info.op);
        match &step.kind {
            Kind::Gemm(g) => self.gemm(i, step, g, &mut code)?,
            Kind::Fused {
                prog,
                inputs,
                views,
            } => {
                let sizes = self.value_sizes(step.out)?;
                let out = self.out_slot(step, &sizes)?;
                let program = self.program_field(i, prog);
                let call = match views.iter().any(Option::is_some) {
                    false => self.fused_call(&program, inputs, &sizes, out, None)?,
                    true => self.fused_views_call(step, &program, (inputs, views), &sizes, out)?,
                };
                let _ = writeln!(
                    code,
                    "        {{\n            let out = &mut ws.s{out}[..{}];\n{}\n{call}\n        }}",
                    self.dim(&numel(&sizes)),
                    fail_closure(step)
                );
            }
            Kind::Alias { src, at, .. } => {
                let Some(Loc::Slot(s)) = self.loc.get(*src).copied().flatten() else {
                    return Err(
                        self.unsupported(format!("`{}` reshapes a value not in a slot", info.name))
                    );
                };
                self.loc[step.out] = Some(Loc::Slot(s));
                let sizes = self.value_sizes(step.out)?;
                match at {
                    None => {
                        self.slot_at[step.out] = self.slot_at[*src].clone();
                        let _ = writeln!(
                            code,
                            "        // (no code: slot {s} read as {})",
                            self.shape(&sizes)
                        );
                    }
                    Some(view) => self.alias_at(step, *src, view, &sizes, &mut code)?,
                }
            }
            Kind::Conv(c) => self.conv(i, step, c, &mut code)?,
            Kind::ConvTranspose(c) => self.conv_transpose(step, c, &mut code)?,
            // A call on bool or integer data: the op's kernel, as an eager call (the
            // generated code does not split the batch, so a view's sizes are the call's).
            Kind::Fallback { op, args, .. }
            | Kind::Typed { op, args, .. }
            | Kind::Lanes { op, args, .. } => {
                self.fallback(step, op, args, &mut code)?;
            }
            Kind::GetItem { src, index } => self.getitem(step, *src, *index)?,
            Kind::Recurrent { spec, args } => self.recurrent(step, spec, args, &mut code)?,
            Kind::HigherOrder { op, args, subplans } => {
                self.higher_order(step, *op, args, subplans, &mut code)?;
            }
            other if self.kernel_step(step, &mut code)? => {
                let _ = other;
            }
            other => {
                return Err(self.unsupported(format!(
                    "`{}` ({}) is planned as a step the generator does not emit yet: {}",
                    info.name,
                    info.op,
                    kind_name(other)
                )))
            }
        }
        Ok(self.with_pending_fits(code))
    }

    /// The slot step `step` writes (its length grown to `sizes`), recorded as the
    /// location of its value.
    pub(super) fn out_slot(&mut self, step: &Step, sizes: &[SymInt]) -> Result<usize, AotError> {
        let slot = step
            .slot
            .ok_or_else(|| self.unsupported(format!("`{}` has no buffer slot", step.info.name)))?;
        if self.slot_len.len() <= slot {
            self.slot_len.resize(slot + 1, 0);
        }
        if self.slot_needs.len() <= slot {
            self.slot_needs.resize(slot + 1, Vec::new());
        }
        let n = numel(sizes);
        let example = usize::try_from(n.hint()).unwrap_or(0);
        self.slot_len[slot] = self.slot_len[slot].max(example);
        if n.is_unbacked() {
            // Known only once the step defining it ran: the slot grows right before.
            let len = self.dim(&n);
            self.pending_fits
                .push(format!("        {RT}::fit(&mut ws.s{slot}, &[{len}])?;\n"));
        } else if n.is_symbolic() && !self.slot_needs[slot].iter().any(|x| same(x, &n)) {
            self.slot_needs[slot].push(n);
        }
        self.loc[step.out] = Some(Loc::Slot(slot));
        Ok(slot)
    }

    /// [`Gen::read`] of an operand that must not live in the step's own slot `out`.
    pub(super) fn read_other(&mut self, o: Operand, out: usize) -> Result<Read, AotError> {
        let r = self.read(o)?;
        if r.slot == Some(out) {
            return Err(self.unsupported("a step reads the slot it writes"));
        }
        Ok(r)
    }

    pub(super) fn read(&mut self, o: Operand) -> Result<Read, AotError> {
        let loc = match o {
            Operand::Const(c) => Some(Loc::Const(c)),
            Operand::Val(v) => self.loc.get(v).copied().flatten(),
        };
        let missing = || format!("{o:?} is read before a generated step computes it");
        Ok(match loc.ok_or_else(|| self.unsupported(missing()))? {
            Loc::Input(k) if self.inputs[k].dtype == "f32" => Read {
                expr: self.inputs[k].ident.clone(),
                sizes: self.inputs[k].sizes.clone(),
                slot: None,
            },
            // Bool or integer data (a `where` condition, a mask), read by a fused step.
            Loc::Input(k) if self.inputs[k].dtype == "bool" || self.inputs[k].dtype == "i64" => {
                Read {
                    expr: format!(
                        "&{RT}::as_f32({}.iter().copied())[..]",
                        self.inputs[k].ident
                    ),
                    sizes: self.inputs[k].sizes.clone(),
                    slot: None,
                }
            }
            Loc::Input(k) => {
                return Err(self.unsupported(format!(
                    "input `{}` ({}) is read by a step other than an embedding or a fused step",
                    self.inputs[k].name, self.inputs[k].dtype
                )))
            }
            Loc::Eager(e, i) => {
                let Operand::Val(v) = o else {
                    return Err(self.unsupported(missing()));
                };
                self.eager_read(e, i, v)?
            }
            Loc::Const(c) => {
                let meta = self.const_meta(c);
                if meta.as_ref().map(|m| m.0) != Some(ferrex::DType::F32) {
                    return Err(self.unsupported(format!("constant {c} of the plan is not f32")));
                }
                let sizes = meta.map(|(_, s)| s.iter().map(|&d| SymInt::Int(d as i64)).collect());
                let field = self.const_field(c)?;
                self.const_fields.insert(field);
                Read {
                    expr: format!("&self.c{field}[..]"),
                    sizes: sizes.ok_or_else(|| self.unsupported(missing()))?,
                    slot: None,
                }
            }
            Loc::Slot(s) => {
                let Operand::Val(v) = o else {
                    return Err(self.unsupported(missing()));
                };
                let sizes = self.value_sizes(v)?;
                let n = self.dim(&numel(&sizes));
                Read {
                    expr: match &self.slot_at[v] {
                        None => format!("&ws.s{s}[..{n}]"),
                        Some(at) => format!("&ws.s{s}[{at}..{at} + {n}]"),
                    },
                    sizes,
                    slot: Some(s),
                }
            }
        })
    }

    /// A gather's `i64` indices — a user input, or an eager step's result (an index
    /// computed from sizes, per size): its slice and sizes.
    pub(super) fn read_ids(&self, o: Operand) -> Result<Read, AotError> {
        let name = |v: usize| {
            self.plan
                .names
                .get(v)
                .map_or("?", String::as_str)
                .to_string()
        };
        match o {
            Operand::Val(v) => match self.loc.get(v).copied().flatten() {
                Some(Loc::Input(k)) if self.inputs[k].dtype == "i64" => Ok(Read {
                    expr: self.inputs[k].ident.clone(),
                    sizes: self.inputs[k].sizes.clone(),
                    slot: None,
                }),
                Some(Loc::Eager(e, i)) => {
                    let meta = self.plan.metas.get(v).and_then(|m| m.first());
                    match meta.filter(|m| m.dtype == ferrex::DType::I64) {
                        Some(m) => Ok(Read {
                            expr: format!("&{RT}::eager_i64(&ws.e{e}, {i})?[..]"),
                            sizes: m.sizes.clone(),
                            slot: None,
                        }),
                        None => Err(self
                            .unsupported(format!("gather indices `{}` that are not i64", name(v)))),
                    }
                }
                _ => Err(self.unsupported(format!(
                    "gather indices `{}` are not an i64 user input or an eager result",
                    name(v)
                ))),
            },
            Operand::Const(_) => {
                Err(self.unsupported("gather indices that are a constant of the plan"))
            }
        }
    }

    /// `rt::fused(program, &[(input, &sizes), …], &sizes, out)`, or `rt::fused_on(…,
    /// threads)` with a thread count.
    fn fused_call(
        &mut self,
        program: &str,
        inputs: &[Operand],
        sizes: &[SymInt],
        out_slot: usize,
        threads: Option<String>,
    ) -> Result<String, AotError> {
        let (inputs, shape) = (self.fused_inputs(inputs, out_slot)?, self.shape(sizes));
        Ok(match threads {
            None => format!(
                "            {RT}::fused(&{program}, {inputs}, &{shape}, out).map_err(|e| fail(&e))?;"
            ),
            Some(t) => format!(
                "            {RT}::fused_on(&{program}, {inputs}, &{shape}, out, {t}).map_err(|e| fail(&e))?;"
            ),
        })
    }

    /// `rt::fused_views(program, &[(input, &sizes), …], &[view, …], &sizes, out)`: each
    /// view's start, sizes and strides literals where every size is, else computed first
    /// by the runner's own `ViewOp::layout`.
    fn fused_views_call(
        &mut self,
        step: &Step,
        program: &str,
        (inputs, views): (&[Operand], &[Option<ReadView>]),
        sizes: &[SymInt],
        out_slot: usize,
    ) -> Result<String, AotError> {
        let mut lines = String::new();
        let mut items = Vec::new();
        for (i, o) in inputs.iter().enumerate() {
            let Some(view) = views.get(i).and_then(Option::as_ref) else {
                items.push("None".to_string());
                continue;
            };
            let x = self.read_other(*o, out_slot)?;
            let (geometry, line) = self.view_geometry(step, i, &x.sizes, view)?;
            lines.push_str(&line);
            items.push(geometry);
        }
        let inputs = self.fused_inputs(inputs, out_slot)?;
        Ok(format!(
            "{lines}            {RT}::fused_views(&{program}, {inputs}, &[{}], &{}, out).map_err(|e| fail(&e))?;",
            items.join(", "),
            self.shape(sizes)
        ))
    }

    /// A fused program's inputs: `&[(input, &sizes), …]`.
    fn fused_inputs(&mut self, inputs: &[Operand], out_slot: usize) -> Result<String, AotError> {
        let mut items = Vec::new();
        for o in inputs {
            let r = self.read(*o)?;
            if r.slot == Some(out_slot) {
                return Err(self.unsupported("a fused step reads the slot it writes"));
            }
            items.push(format!("({}, &{})", r.expr, self.shape(&r.sizes)));
        }
        Ok(format!("&[{}]", items.join(", ")))
    }

    fn gemm(
        &mut self,
        i: usize,
        step: &Step,
        g: &GemmStep,
        code: &mut String,
    ) -> Result<(), AotError> {
        let name = &step.info.name;
        let sizes = self.value_sizes(step.out)?;
        let a = self.read(g.a)?;
        let k = a.sizes.last().cloned().unwrap_or(SymInt::Int(1));
        let m = numel(&a.sizes[..a.sizes.len().saturating_sub(1)]);
        let (b_expr, n) = self.gemm_b(i, &g.b, &k, name)?;
        let last = sizes.last().cloned().unwrap_or(SymInt::Int(1));
        if !same(&numel(&sizes), &m.mul(&n)) || !same(&last, &n) {
            return Err(self.unsupported(format!(
                "`{name}`: [{m}, {k}] @ [{k}, {n}] is not {sizes:?}"
            )));
        }
        let out = self.out_slot(step, &sizes)?;
        if a.slot == Some(out) {
            return Err(self.unsupported(format!("`{name}` reads the slot it writes")));
        }
        let (md, kd, nd) = (self.dim(&m), self.dim(&k), self.dim(&n));
        let mut body = format!(
            "            let out = &mut ws.s{out}[..{}];\n{}\n",
            self.dim(&m.mul(&n)),
            fail_closure(step)
        );
        let beta = match g.init {
            Some((init, beta)) => {
                let r = self.read(init)?;
                let _ = writeln!(
                    body,
                    "            {RT}::bias_init({}, &{}, {}, [{md}, {nd}], out).map_err(|e| fail(&e))?;",
                    r.expr,
                    self.shape(&r.sizes),
                    super::literal::f32_lit(beta)
                );
                "1.0f32"
            }
            None => "0.0f32",
        };
        let am = format!("{RT}::Mat::row_major({}, {md}, {kd})", a.expr);
        let alpha = super::literal::f32_lit(g.alpha);
        let _ =
            writeln!(
            body,
            "            {RT}::{}({alpha}, {am}, {b_expr}, {beta}, out).map_err(|e| fail(&e))?;",
            if matches!(g.b, GemmB::Packed(..)) { "gemm_packed" } else { "gemm" }
        );
        if let Some(e) = &g.epilogue {
            // On as many threads as the product ran on, as the plan's runner does.
            let packed = match g.b {
                GemmB::Packed(..) => format!("Some({b_expr})"),
                GemmB::Dynamic(_) => "None".into(),
            };
            let threads = format!("{RT}::epilogue_threads({md}, {nd}, {kd}, {packed})");
            body.push_str(&self.epilogue(i, e, &sizes, out, Some(threads))?);
        }
        let _ = writeln!(code, "        {{\n{body}        }}");
        Ok(())
    }

    /// The `B` operand of step `i`'s product with a `k`-column left operand, and `n`.
    fn gemm_b(
        &mut self,
        i: usize,
        b: &GemmB,
        k: &SymInt,
        name: &str,
    ) -> Result<(String, SymInt), AotError> {
        match b {
            GemmB::Packed(_, source) => {
                // The packed `[k, n]` from the constant it is packed from (a
                // structure-only plan's panels are empty).
                let shape = self.const_meta(source.konst).map(|m| m.1);
                let [bk, n] = match (shape.as_deref(), source.transposed) {
                    (Some(&[r, c]), false) => [r, c],
                    (Some(&[r, c]), true) => [c, r],
                    _ => return Err(self.unsupported(format!("`{name}`: the weight is not 2-D"))),
                };
                if !same(&SymInt::Int(bk as i64), k) {
                    return Err(
                        self.unsupported(format!("`{name}`: the weight has {bk} rows, not {k}"))
                    );
                }
                let konst = self.const_field(source.konst)?;
                let source = PackSource { konst, ..*source };
                // One field per packed constant, however many steps read it (the plan
                // packs it once too: an unrolled recurrence's steps share the panels).
                let field = match self.packs.iter().find(|(_, s)| *s == source) {
                    Some((j, _)) => *j,
                    None => {
                        self.packs.push((i, source));
                        i
                    }
                };
                Ok((format!("&self.w{field}"), SymInt::Int(n as i64)))
            }
            GemmB::Dynamic(o) => {
                let r = self.read(*o)?;
                let [bk, n] = &r.sizes[..] else {
                    return Err(self
                        .unsupported(format!("`{name}`: a right operand of sizes {:?}", r.sizes)));
                };
                if !same(bk, k) {
                    return Err(self.unsupported(format!(
                        "`{name}`: [{bk}, {n}] right operand for {k} columns"
                    )));
                }
                let expr = format!(
                    "{RT}::Mat::row_major({}, {}, {})",
                    r.expr,
                    self.dim(k),
                    self.dim(n)
                );
                Ok((expr, n.clone()))
            }
        }
    }

    /// The field holding fused program `prog` (`self.f{i}`, `i` the first step that
    /// runs it): steps running the same program share one, built once.
    fn program_field(&mut self, i: usize, prog: &ferrex_runtime::fused::FusedProgram) -> String {
        let literal = super::literal::fused_program(prog);
        let same =
            (self.programs.iter()).find(|(_, p)| super::literal::fused_program(p) == literal);
        let first = match same {
            Some((j, _)) => *j,
            None => {
                self.programs.push((i, prog.clone()));
                i
            }
        };
        format!("self.f{first}")
    }

    /// An epilogue run in place on the slot of its kernel, on `threads` threads (an
    /// expression) or the pool's.
    fn epilogue(
        &mut self,
        i: usize,
        e: &Epilogue,
        sizes: &[SymInt],
        out: usize,
        threads: Option<String>,
    ) -> Result<String, AotError> {
        let program = self.program_field(i, &e.prog);
        let call = self.fused_call(&program, &e.inputs, sizes, out, threads)?;
        self.loc[e.value] = Some(Loc::Slot(out));
        Ok(format!("{call}\n"))
    }

    /// An epilogue that a kernel's call runs itself: its program's field and its inputs
    /// (`&[(input, &sizes), …]`); its value is then in `out`.
    pub(super) fn epilogue_args(
        &mut self,
        i: usize,
        e: &Epilogue,
        out: usize,
    ) -> Result<(String, String), AotError> {
        let program = self.program_field(i, &e.prog);
        let inputs = self.fused_inputs(&e.inputs, out)?;
        self.loc[e.value] = Some(Loc::Slot(out));
        Ok((program, inputs))
    }
}

/// `let fail = …`: a step's kernel error, worded as the plan's runner words it.
pub(super) fn fail_closure(step: &Step) -> String {
    format!(
        "            let fail = |e: &dyn ::std::fmt::Display| {RT}::failed({:?}, {:?}, {}, e);",
        step.info.name,
        step.info.op,
        location(step.info.source)
    )
}

fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Fallback { .. } => "an eager fallback",
        Kind::Typed { .. } => "a call on bool or integer data",
        Kind::Lanes { .. } => "a call lane by lane",
        Kind::Recurrent { .. } => "recurrent layers",
        Kind::GetItem { .. } => "getitem",
        Kind::HigherOrder { .. } => "a higher-order op",
        Kind::Conv(_) => "convolution",
        Kind::ConvTranspose(_) => "transposed convolution",
        Kind::Pool { avg: None, .. } => "max pooling",
        Kind::Pool { .. } => "average pooling",
        Kind::Softmax { .. } => "softmax",
        Kind::Compare { .. } => "comparison",
        Kind::LayerNorm { .. } => "layer norm",
        Kind::Permute { .. } => "permute",
        Kind::View { .. } => "strided view",
        Kind::Attention { .. } => "attention",
        Kind::Reduce { .. } => "reduction",
        Kind::Gather { .. } => "gather",
        Kind::Roll { .. } => "roll",
        Kind::Pad { .. } => "constant pad",
        Kind::GroupNorm { .. } => "group norm",
        Kind::Bmm { .. } => "bmm",
        Kind::Concat { .. } => "concatenation",
        Kind::Upsample { .. } => "upsampling",
        Kind::Gemm(_) | Kind::Fused { .. } | Kind::Alias { .. } => "planned",
    }
}
