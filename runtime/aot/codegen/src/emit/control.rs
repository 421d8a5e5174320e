//! `cond` and `map_impl`: each subgraph's plan is generated as its own function
//! (`Model::sub{path}`, over its own workspace `SubWorkspace{path}`, a field `h{index}`
//! of the caller's), and the step calls the runtime's higher-order step with a closure
//! running those functions — so the branch `cond` picks (a bool tensor or a SymBool of
//! the bound sizes), `map`'s slices and stacking, and every error are the plan's own.
//! Also here: what the module holds for values read from data (`ws.u`), SymInt outputs
//! of `call`, and slots grown right before a step.

use std::fmt::Write;

use ferrex::graph::{Argument, HigherOrderOp};
use ferrex::SymInt;
use ferrex_runtime::plan::{InputSource, Operand, Plan, Step};

use super::entry::Output;
use super::literal::location;
use super::steps::fail_closure;
use super::{Gen, Loc, UserInput};
use crate::AotError;

const RT: &str = "::ferrex_aot::rt";

/// Whether sizes depend on values read from data (known only once the program ran).
pub(super) fn data_dependent(sizes: &[SymInt]) -> bool {
    sizes.iter().any(SymInt::is_unbacked)
}

/// `, out0: &mut [f32], …`: the typed outputs; one of data-dependent sizes is a `Vec`
/// that `forward` fills (its length is known only once the step defining it ran).
pub(super) fn out_params(outputs: &[Output]) -> String {
    (outputs.iter().enumerate())
        .map(|(k, (_, s))| match data_dependent(s) {
            true => format!(", out{k}: &mut Vec<f32>"),
            false => format!(", out{k}: &mut [f32]"),
        })
        .collect()
}

/// Where a plan is among the program's subplans, and what its subgraphs generated.
#[derive(Default)]
pub(super) struct SubState {
    /// `""` for the program's plan, `"0_1"` for subplan 1 of subplan 0.
    prefix: String,
    /// The next free step key: `Model`'s per-step fields (`f{key}`, `w{key}`) are keyed
    /// over all plans, the program's steps first.
    pub(super) next_key: usize,
    /// The subgraphs' workspaces and functions, in the order generated.
    pub(super) items: String,
    /// The nested workspaces this plan's workspace holds: `(index, path)`.
    fields: Vec<(usize, String)>,
    /// For a subplan: the program's constant each of its constants is (a weight the
    /// subgraph receives whole and the plan froze into it); `None` for one it computed.
    const_map: Option<Vec<Option<usize>>>,
    /// Constants of the program passed whole to a subgraph (`c{…}` of `Model`), each
    /// made a tensor once and kept in this plan's workspace (`k{…}`).
    cached: std::collections::BTreeSet<usize>,
}

impl<'a> Gen<'a> {
    /// The constant of the program's plan (field `c{…}` of `Model`) that constant `c`
    /// of this plan is.
    pub(super) fn const_field(&self, c: usize) -> Result<usize, AotError> {
        match &self.sub.const_map {
            None => Ok(c),
            Some(map) => map.get(c).copied().flatten().ok_or_else(|| {
                self.unsupported(format!(
                    "constant {c} of a `cond` / `map` subgraph is computed inside it (a folded \
                     value), which a generated subgraph does not hold yet"
                ))
            }),
        }
    }

    /// Which of the program's constants each constant of subplan `sub` is: a frozen
    /// placeholder `k` is the step's `k`-th subgraph operand, when that is a constant.
    fn sub_const_map(
        &self,
        sub: &Plan,
        op: &'static dyn HigherOrderOp,
        args: &[Argument<Operand>],
    ) -> Vec<Option<usize>> {
        // The op lists its subgraph operands from node ids: an operand is encoded as one
        // (`2v` a value, `2c + 1` a constant) to ask it, and decoded after.
        let encoded: Vec<ferrex::graph::Arg> = (args.iter())
            .filter_map(|a| {
                a.try_map(|o| {
                    Ok::<_, ()>(ferrex::graph::NodeId(match o {
                        Operand::Val(v) => 2 * v,
                        Operand::Const(c) => 2 * c + 1,
                    }))
                })
                .ok()
            })
            .collect();
        let operands = op.subgraph_inputs(&encoded);
        (sub.const_origins.iter())
            .map(|origin| match origin {
                ferrex_runtime::plan::ConstOrigin::Placeholder(k) => {
                    let n = operands.get(*k)?.0;
                    (n % 2 == 1).then(|| self.const_field(n / 2).ok()).flatten()
                }
                _ => None,
            })
            .collect()
    }

    /// The function that runs this plan: `forward`, or a subgraph's `sub{path}`.
    pub(super) fn function_name(&self) -> String {
        match self.sub.prefix.as_str() {
            "" => "forward".into(),
            p => format!("sub{p}"),
        }
    }

    /// The workspace struct of this plan.
    pub(super) fn workspace_name(&self) -> String {
        match self.sub.prefix.as_str() {
            "" => "Workspace".into(),
            p => format!("SubWorkspace{p}"),
        }
    }

    /// The workspace's fields beyond slots and eager results, and their initialisers:
    /// the subgraphs' workspaces, and the values read from data (`u`).
    pub(super) fn workspace_extra(&self) -> (String, String) {
        let (mut fields, mut init) = (String::new(), String::new());
        for (index, path) in &self.sub.fields {
            let _ = writeln!(fields, "    h{index}: SubWorkspace{path},");
            let _ = writeln!(init, "            h{index}: SubWorkspace{path}::new()?,");
        }
        for c in &self.sub.cached {
            let _ = writeln!(fields, "    k{c}: Option<{RT}::Tensor>,");
            let _ = writeln!(init, "            k{c}: None,");
        }
        let n = self.dims.unbacked.len();
        if n > 0 && self.sub.prefix.is_empty() {
            let _ = writeln!(
                fields,
                "    /// Values read from data ({}), bound by the steps defining them.\n    \
                 u: [Option<i64>; {n}],",
                (self.dims.unbacked.iter().map(ToString::to_string))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(init, "            u: [None; {n}],");
        }
        (fields, init)
    }

    /// `ws.u` unbound at the start of a call (each call binds its own values).
    pub(super) fn unbacked_reset(&self) -> String {
        match self.dims.unbacked.len() {
            0 => String::new(),
            n => format!("        ws.u = [None; {n}];\n"),
        }
    }

    /// `code` with the slot growths its step needs inserted after its comment line.
    pub(super) fn with_pending_fits(&mut self, code: String) -> String {
        if self.pending_fits.is_empty() {
            return code;
        }
        let fits = std::mem::take(&mut self.pending_fits).concat();
        match code.split_once('\n') {
            Some((comment, rest)) => format!("{comment}\n{fits}{rest}"),
            None => fits + &code,
        }
    }

    /// `call`'s run of the program on its workspace; the values known only once it ran
    /// (`post`: SymInt outputs, then the data-dependent sizes of outputs, which may read
    /// `ws.u`) computed in the same borrow.
    pub(super) fn call_run(&self, run: &str, outputs: &[Output]) -> String {
        let mut post: Vec<String> = self.int_outputs.iter().map(|(_, v)| v.clone()).collect();
        for (_, sizes) in outputs.iter().filter(|(_, s)| data_dependent(s)) {
            post.extend(sizes.iter().map(|s| self.int_value(s)));
        }
        if post.is_empty() {
            return format!("        self.with_workspace(|ws| {run})?;\n");
        }
        format!(
            "        let post: [i64; {}] = self.with_workspace(|ws| {{\n            {run}?;\n            \
             Ok([{}])\n        }})?;\n",
            post.len(),
            post.join(", ")
        )
    }

    /// The shape of data-dependent output `k` in `call`, from the `post` values.
    pub(super) fn post_shape(&self, outputs: &[Output], k: usize) -> String {
        let before = (outputs[..k].iter())
            .filter(|(_, s)| data_dependent(s))
            .map(|(_, s)| s.len())
            .sum::<usize>();
        let start = self.int_outputs.len() + before;
        let dims: Vec<String> = (outputs[k].1.iter().enumerate())
            .map(|(i, s)| {
                format!(
                    "{RT}::size(Some(post[{}]), {:?})?",
                    start + i,
                    s.to_string()
                )
            })
            .collect();
        format!("[{}]", dims.join(", "))
    }

    /// `call`'s results in the order of the output specs: the tensors, and each SymInt
    /// output as a 0-d i64 tensor (what `CompiledProgram::call` returns for it).
    pub(super) fn with_int_outputs(&self, tensors: Vec<(usize, String)>) -> Vec<String> {
        let ints = (self.int_outputs.iter().enumerate())
            .map(|(j, (k, _))| (*k, format!("{RT}::scalar_i64(post[{j}])")));
        let mut all: Vec<(usize, String)> = tensors.into_iter().chain(ints).collect();
        all.sort_by_key(|(k, _)| *k);
        all.into_iter().map(|(_, v)| v).collect()
    }

    /// A `cond` / `map_impl` step: its arguments as values (a SymBool predicate bound),
    /// its output metas at the call's sizes, each subgraph a generated function.
    pub(super) fn higher_order(
        &mut self,
        step: &Step,
        op: &'static dyn HigherOrderOp,
        args: &[Argument<Operand>],
        subplans: &[usize],
        code: &mut String,
    ) -> Result<(), AotError> {
        let mut values = Vec::new();
        for a in args {
            let a = a.try_map(|o| self.operand_tensor(*o))?;
            values.push(self.value_of(&a)?);
        }
        let metas: Vec<String> = (step.metas.iter())
            .map(|m| {
                let shape = self.shape(&m.sizes);
                format!("{RT}::meta({RT}::DType::{:?}, &{shape})", m.dtype)
            })
            .collect();
        let d_arg = if self.dims.dynamic() { "d, " } else { "" };
        let (mut cells, mut arms) = (String::new(), String::new());
        for (k, &index) in subplans.iter().enumerate() {
            let role = op.subgraph_roles().get(k).copied().unwrap_or("subgraph");
            let path = match self.sub.prefix.as_str() {
                "" => index.to_string(),
                p => format!("{p}_{index}"),
            };
            let what = format!("the {role} of `{}`", step.info.name);
            self.subplan(index, &path, &what, (op, args))?;
            let _ = writeln!(
                cells,
                "            let h{k} = ::std::cell::RefCell::new(&mut ws.h{index});"
            );
            let _ = writeln!(
                arms,
                "                {k} => self.sub{path}(&mut h{k}.borrow_mut(), {d_arg}inputs),"
            );
        }
        self.eager.push(step.out);
        self.loc[step.out] = Some(Loc::Eager(step.out, 0));
        let target = op.target().to_string();
        let hop = match self.hops.iter().position(|t| *t == target) {
            Some(i) => i,
            None => {
                self.hops.push(target);
                self.hops.len() - 1
            }
        };
        let _ = writeln!(
            code,
            "        {{\n{}\n            let args = vec![{}];\n            let metas = vec![{}];\n{cells}            \
             let run = |k: usize, inputs: Vec<{RT}::Tensor>| match k {{\n{arms}                \
             _ => Err({RT}::RunError::Malformed(String::from({:?}))),\n            }};\n            \
             ws.e{} = {RT}::higher_order(self.hop{hop}, &args, &run, &metas, {}, &fail)?;\n        }}",
            fail_closure(step),
            values.join(", "),
            metas.join(", "),
            format!("`{}` names a missing subgraph", step.info.name),
            step.out,
            location(step.info.source)
        );
        Ok(())
    }

    /// An operand of a higher-order step as an `rt::Tensor` expression.
    fn operand_tensor(&mut self, o: Operand) -> Result<String, AotError> {
        match o {
            Operand::Val(v) => self.tensor(v),
            Operand::Const(c) => {
                // A weight passed whole: made a tensor on the first call, then shared.
                let r = self.read(o)?;
                let field = self.const_field(c)?;
                self.sub.cached.insert(field);
                Ok(format!(
                    "{RT}::cached_tensor(&mut ws.k{field}, {}, &{})?",
                    r.expr,
                    self.shape(&r.sizes)
                ))
            }
        }
    }

    /// Subplan `index` of this plan generated into `self.sub.items`: its workspace and
    /// its function. It shares the module's sizes (`Dims`), fallback ops, fused programs
    /// and step keys with the program's plan.
    fn subplan(
        &mut self,
        index: usize,
        path: &str,
        what: &str,
        (op, args): (&'static dyn HigherOrderOp, &[Argument<Operand>]),
    ) -> Result<(), AotError> {
        let plan: &'a Plan = self.plan;
        let sub = (plan.subplans.get(index))
            .ok_or_else(|| self.unsupported(format!("{what} names a missing subplan")))?;
        let mut g = Gen::new(self.ep, sub, self.stored, self.options);
        g.sub.const_map = Some(self.sub_const_map(sub, op, args));
        self.share(&mut g);
        g.sub.prefix = path.to_string();
        g.sub.next_key = self.sub.next_key;
        let outer = std::mem::replace(&mut g.dims.in_sub, true);
        let function = g.sub_function(what);
        g.dims.in_sub = outer;
        self.share(&mut g);
        self.sub.next_key = g.sub.next_key;
        let function = function?;
        self.sub.items.push_str(&g.sub.items);
        self.sub.items.push_str(&function);
        self.sub.fields.push((index, path.to_string()));
        Ok(())
    }

    /// Swaps what the program's plan and a subplan share (given to the subplan's
    /// generator, then taken back).
    fn share(&mut self, g: &mut Gen<'a>) {
        std::mem::swap(&mut self.dims, &mut g.dims);
        std::mem::swap(&mut self.ops, &mut g.ops);
        std::mem::swap(&mut self.programs, &mut g.programs);
        std::mem::swap(&mut self.packs, &mut g.packs);
        std::mem::swap(&mut self.conv_weights, &mut g.conv_weights);
        std::mem::swap(&mut self.const_fields, &mut g.const_fields);
        std::mem::swap(&mut self.const_tensors, &mut g.const_tensors);
    }

    /// The workspace and function of a subplan: its inputs checked against its
    /// placeholders, its steps, its outputs as tensors.
    fn sub_function(&mut self, what: &str) -> Result<String, AotError> {
        let plan: &'a Plan = self.plan;
        let mut head = format!(
            "        {RT}::check_sub_count(&inputs, {})?;\n",
            plan.inputs.len()
        );
        for &(v, source) in &plan.inputs {
            head.push_str(&self.sub_input(v, source, what)?);
        }
        let mut body = String::new();
        for step in &plan.steps {
            let key = self.sub.next_key;
            self.sub.next_key += 1;
            body.push_str(&self.step(key, step)?);
            if let Some(why) = self.dims.take_error() {
                return Err(self.unsupported(format!("`{}`: {why}", step.info.name)));
            }
        }
        let mut outs = Vec::new();
        for a in &plan.outputs {
            outs.push(match a {
                Argument::Tensor(n) => self.tensor(n.0)?,
                Argument::Int(s) => format!("{RT}::scalar_i64({})", self.int_value(s)),
                _ => return Err(self.unsupported(format!("an output of {what} is not a tensor"))),
            });
        }
        if let Some(why) = self.dims.take_error() {
            return Err(self.unsupported(format!("{what}: {why}")));
        }
        let mut code = String::new();
        self.workspace(&mut code);
        let d_param = if self.dims.dynamic() {
            ", d: &Dims"
        } else {
            ""
        };
        let _ = write!(
            code,
            "impl Model {{\n    /// {what}, run by its step through `rt::higher_order`.\n    \
             fn {}(&self, ws: &mut {}{d_param}, inputs: Vec<{RT}::Tensor>) -> Result<Vec<{RT}::Tensor>, {RT}::RunError> {{\n\
             {head}{}{body}        Ok(vec![{}])\n    }}\n}}\n\n",
            self.function_name(),
            self.workspace_name(),
            self.fits(),
            outs.join(", ")
        );
        Ok(code)
    }

    /// `x{k}`, input `k` of a subgraph, read as a slice of its placeholder's dtype.
    fn sub_input(&mut self, v: usize, source: InputSource, what: &str) -> Result<String, AotError> {
        let k = match source {
            InputSource::Runtime(k) => k,
            InputSource::Frozen(c) => {
                // A weight the subgraph receives whole: read from `Model` as the program's.
                self.loc[v] = Some(Loc::Const(c));
                return Ok(String::new());
            }
        };
        let meta = (self.plan.metas.get(v).and_then(|m| m.first()))
            .ok_or_else(|| self.unsupported(format!("input {k} of {what} has no meta")))?;
        let dtype = match meta.dtype {
            ferrex::DType::F32 => "f32",
            ferrex::DType::I64 => "i64",
            ferrex::DType::Bool => "bool",
            d => {
                return Err(self.unsupported(format!("input {k} of {what} is a {d} tensor")));
            }
        };
        let ident = format!("x{k}");
        let code = format!(
            "        let {ident}_in = {RT}::sub_input(&inputs, {k}, {RT}::DType::{:?}, &{})?;\n        \
             let {ident}_data = {RT}::{dtype}_data(&{ident}_in);\n        \
             let {ident}: &[{dtype}] = &{ident}_data;\n",
            meta.dtype,
            self.shape(&meta.sizes)
        );
        self.loc[v] = Some(Loc::Input(self.inputs.len()));
        self.inputs.push(UserInput {
            ident,
            name: self.plan.names.get(v).cloned().unwrap_or_default(),
            sizes: meta.sizes.clone(),
            dtype,
            leaf: k,
            buffer: None,
        });
        Ok(code)
    }
}
