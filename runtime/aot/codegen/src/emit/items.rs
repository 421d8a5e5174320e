//! The items around the steps: `Model` (weights), `Workspace` (slots), `forward`
//! (typed, on slices) and `call` (the `CompiledProgram::call` drop-in).

use std::collections::BTreeSet;
use std::fmt::Write;

use ferrex_runtime::plan::ConstOrigin;

use super::literal::{fused_program, shape};
use super::Gen;
use crate::AotError;

const RT: &str = "::ferrex_aot::rt";

fn meta(sizes: &[usize]) -> String {
    format!("f32{}", shape(sizes))
}

impl Gen<'_> {
    /// The constants `Model::new` computes: those `forward` reads, those packed, and
    /// what they are copied from, in plan order (sources first).
    fn needed_consts(&self) -> BTreeSet<usize> {
        let folded_from = |c: usize| -> Vec<usize> {
            match self.plan.const_origins.get(c) {
                Some(ConstOrigin::Reshaped { src }) => vec![*src],
                Some(ConstOrigin::Folded { node, .. }) => self.folded_args(*node),
                Some(ConstOrigin::BatchNorm {
                    weight,
                    bias,
                    mean,
                    var,
                    ..
                }) => [weight, bias, mean, var]
                    .into_iter()
                    .flatten()
                    .copied()
                    .collect(),
                _ => Vec::new(),
            }
        };
        let mut needed: BTreeSet<usize> = self.const_fields.clone();
        needed.extend(self.packs.iter().map(|(_, s)| s.konst));
        let mut todo: Vec<usize> = needed.iter().copied().collect();
        while let Some(c) = todo.pop() {
            for src in folded_from(c) {
                if needed.insert(src) {
                    todo.push(src);
                }
            }
        }
        needed
    }

    /// `let c{c} = …;` for constant `c`; the bytes it reads from the archive.
    fn const_local(&self, c: usize, code: &mut String) -> Result<usize, AotError> {
        let sizes = self
            .plan
            .consts
            .get(c)
            .map(|s| s.shape().to_vec())
            .unwrap_or_default();
        match self.plan.const_origins.get(c) {
            Some(ConstOrigin::Placeholder(k)) => {
                let spec = self.ep.graph_signature().input_specs.get(*k);
                let target = spec.and_then(|s| s.target.clone()).unwrap_or_default();
                let stored = match self.stored.tensors.get(&target) {
                    Some(Ok(t)) if t.shape == sizes => t,
                    Some(Ok(t)) => {
                        return Err(self.unsupported(format!(
                            "`{target}` is stored as {:?}, the plan reads {sizes:?}",
                            t.shape
                        )))
                    }
                    Some(Err(why)) => return Err(self.unsupported(format!("`{target}`: {why}"))),
                    None => {
                        return Err(
                            self.unsupported(format!("`{target}` is not stored in the archive"))
                        )
                    }
                };
                let _ = writeln!(
                    code,
                    "        // `{target}`: {}\n        let c{c} = {RT}::f32_le(ARCHIVE, {}, {})?;",
                    meta(&sizes),
                    stored.offset,
                    stored.numel
                );
                Ok(stored.numel * 4)
            }
            Some(ConstOrigin::Reshaped { src }) => {
                let _ = writeln!(
                    code,
                    "        let c{c} = c{src}.clone(); // {}",
                    meta(&sizes)
                );
                Ok(0)
            }
            Some(ConstOrigin::BatchNorm {
                weight,
                bias,
                mean: Some(mean),
                var: Some(var),
                eps,
                shift,
            }) => {
                let opt = |c: &Option<usize>| {
                    c.map_or("None".to_string(), |c| format!("Some(&c{c}[..])"))
                };
                let _ = writeln!(
                    code,
                    "        // a batch norm's {} folded: {}\n        let c{c} = {RT}::batch_norm_part({}, {}, &c{mean}, &c{var}, {}, {shift})?;",
                    if *shift { "shift" } else { "scale" },
                    meta(&sizes),
                    opt(weight),
                    opt(bias),
                    super::literal::f64_lit(*eps)
                );
                Ok(0)
            }
            Some(ConstOrigin::Folded { node, output }) => {
                self.folded_local(c, *node, *output, &sizes, code)?;
                Ok(0)
            }
            other => Err(self.unsupported(format!(
                "constant {c} of the plan ({other:?}) is computed by the planner in a way \
                 the generator does not replay yet"
            ))),
        }
    }

    /// `struct Model` and `Model::new`; returns the weight bytes read from the archive.
    pub(super) fn model(&self, code: &mut String) -> Result<usize, AotError> {
        let mut fields = String::new();
        let mut init = String::new();
        let mut body = String::new();
        let mut bytes = 0;
        for c in self.needed_consts() {
            bytes += self.const_local(c, &mut body)?;
            if self.const_fields.contains(&c) {
                let _ = writeln!(fields, "    c{c}: Vec<f32>,");
                let _ = writeln!(init, "            c{c},");
            }
        }
        for (i, source) in &self.packs {
            let sizes = self
                .plan
                .consts
                .get(source.konst)
                .map(|s| s.shape().to_vec());
            let [r, cols] = sizes.as_deref().unwrap_or_default()[..] else {
                return Err(self.unsupported(format!("the weight of step {i} is not 2-D")));
            };
            let _ = writeln!(
                body,
                "        let w{i} = {RT}::pack(&c{}, [{r}, {cols}], {})\n            .map_err(|e| {RT}::RunError::Malformed(e.to_string()))?;",
                source.konst, source.transposed
            );
            let _ = writeln!(fields, "    w{i}: {RT}::PackedB,");
            let _ = writeln!(init, "            w{i},");
        }
        for (i, prog) in &self.programs {
            let _ = writeln!(fields, "    f{i}: {RT}::FusedProgram,");
            let _ = writeln!(init, "            f{i}: {},", fused_program(prog));
        }
        let _ = write!(
            code,
            "/// The program `{name}`, compiled ahead of time: its weights, read once, and the\n\
             /// plan's steps as code (`forward`, `call`).\n\
             pub struct Model {{\n{fields}    ws: ::std::sync::Mutex<Option<Workspace>>,\n}}\n\n\
             impl Model {{\n    /// Reads the weights from the embedded archive and prepares them (GEMM\n    \
             /// weights packed), once.\n    \
             pub fn new() -> Result<Model, {RT}::RunError> {{\n{body}        Ok(Model {{\n{init}            \
             ws: ::std::sync::Mutex::new(None),\n        }})\n    }}\n}}\n\n",
            name = self.ep.model_name(),
        );
        Ok(bytes)
    }

    /// `struct Workspace`: the plan's slots, allocated once.
    pub(super) fn workspace(&self, code: &mut String) {
        let fields: String = (0..self.slot_len.len())
            .map(|s| format!("    s{s}: Vec<f32>,\n"))
            .collect();
        let init: String = (self.slot_len.iter().enumerate())
            .map(|(s, n)| format!("            s{s}: {RT}::zeros({n})?,\n"))
            .collect();
        let _ = write!(
            code,
            "/// The buffers `Model::forward` computes in (the plan's {} slots, {} bytes),\n\
             /// allocated once and reused by every call.\n\
             pub struct Workspace {{\n{fields}}}\n\n\
             impl Workspace {{\n    /// Allocates the slots.\n    \
             pub fn new() -> Result<Workspace, {RT}::RunError> {{\n        Ok(Workspace {{\n{init}        }})\n    }}\n}}\n\n",
            self.slot_len.len(),
            self.slot_len.iter().sum::<usize>() * 4
        );
    }

    /// `forward(&self, ws, inputs…, outputs…)`, the steps inline or in parts.
    pub(super) fn forward(
        &self,
        code: &mut String,
        bodies: &[String],
        outputs: &[(String, Vec<usize>)],
    ) {
        let ins: String = self
            .inputs
            .iter()
            .map(|i| format!(", {}: &[f32]", i.ident))
            .collect();
        let in_names: String = self
            .inputs
            .iter()
            .map(|i| format!(", {}", i.ident))
            .collect();
        let outs: String = (0..outputs.len())
            .map(|k| format!(", out{k}: &mut [f32]"))
            .collect();
        let doc_in: Vec<String> = self
            .inputs
            .iter()
            .map(|i| format!("`{}`: {}", i.ident, meta(&i.sizes)))
            .collect();
        let doc_out: Vec<String> = outputs
            .iter()
            .enumerate()
            .map(|(k, (_, s))| format!("`out{k}`: {}", meta(s)))
            .collect();
        let _ = write!(
            code,
            "impl Model {{\n    /// Runs the program on row-major slices ({}) into `outputs` ({}).\n    \
             /// Allocates no buffer of its own: the plan's buffers are `ws`'s.\n    \
             pub fn forward(&self, ws: &mut Workspace{ins}{outs}) -> Result<(), {RT}::RunError> {{\n",
            doc_in.join(", "),
            doc_out.join(", ")
        );
        for i in &self.inputs {
            let _ = writeln!(
                code,
                "        {RT}::check_len({:?}, {:?}, {}.len(), {})?;",
                i.ident,
                meta(&i.sizes),
                i.ident,
                i.sizes.iter().product::<usize>()
            );
        }
        for (k, (_, s)) in outputs.iter().enumerate() {
            let _ = writeln!(
                code,
                "        {RT}::check_len(\"out{k}\", {:?}, out{k}.len(), {})?;",
                meta(s),
                s.iter().product::<usize>()
            );
        }
        let per = self.options.steps_per_function.max(1);
        let parts: Vec<&[String]> = bodies.chunks(per).collect();
        match parts.as_slice() {
            [] => {}
            [one] => one.iter().for_each(|b| code.push_str(b)),
            many => (0..many.len()).for_each(|j| {
                let _ = writeln!(code, "        self.part{j}(ws{in_names})?;");
            }),
        }
        for (k, (expr, _)) in outputs.iter().enumerate() {
            let _ = writeln!(code, "        out{k}.copy_from_slice({expr});");
        }
        code.push_str("        Ok(())\n    }\n");
        if parts.len() > 1 {
            for (j, part) in parts.iter().enumerate() {
                let _ = write!(
                    code,
                    "\n    /// Steps {} to {} of `forward`.\n    \
                     fn part{j}(&self, ws: &mut Workspace{ins}) -> Result<(), {RT}::RunError> {{\n{}        Ok(())\n    }}\n",
                    j * per,
                    j * per + part.len() - 1,
                    part.concat()
                );
            }
        }
        code.push_str("}\n\n");
    }
}

impl Gen<'_> {
    /// `call` / `call_flat`: `CompiledProgram::call`'s signature, checks and words.
    pub(super) fn call(&self, code: &mut String, outputs: &[(String, Vec<usize>)]) {
        let names: Vec<String> = self
            .ep
            .arg_names()
            .iter()
            .map(|n| format!("{n:?}"))
            .collect();
        let _ = write!(
            code,
            "/// The names of the program's arguments, for flattening `call`'s tuple.\n\
             const ARG_NAMES: [&str; {}] = [{}];\n\n",
            names.len(),
            names.join(", ")
        );
        let mut body = format!(
            "        {RT}::check_count(leaves, {})?;\n",
            self.inputs.len()
        );
        for (k, i) in self.inputs.iter().enumerate() {
            let _ = writeln!(
                body,
                "        let {} = {RT}::input_f32(leaves, {k}, {:?}, &{})?;",
                i.ident,
                i.name,
                shape(&i.sizes)
            );
        }
        for (k, (_, s)) in outputs.iter().enumerate() {
            let _ = writeln!(
                body,
                "        let mut out{k} = {RT}::zeros({})?;",
                s.iter().product::<usize>()
            );
        }
        let args: String = (self.inputs.iter())
            .map(|i| format!(", &{RT}::f32_data(&{})", i.ident))
            .chain((0..outputs.len()).map(|k| format!(", &mut out{k}")))
            .collect();
        let _ = writeln!(
            body,
            "        self.with_workspace(|ws| self.forward(ws{args}))?;"
        );
        let results: Vec<String> = (outputs.iter().enumerate())
            .map(|(k, (_, s))| format!("{RT}::tensor(&{}, out{k})?", shape(s)))
            .collect();
        let _ = write!(
            code,
            "impl Model {{\n    /// Runs the program on `args` (a tuple, as for `export`) and returns the user\n    \
             /// outputs: `ferrex_runtime::CompiledProgram::call`, with its input checks and\n    \
             /// messages.\n    \
             pub fn call<A: {RT}::ForwardArgs>(&self, args: A) -> Result<Vec<{RT}::Tensor>, {RT}::RunError> {{\n        \
             let mut leaves = Vec::new();\n        args.flatten_named(&ARG_NAMES, &mut leaves);\n        \
             self.call_flat(&leaves)\n    }}\n\n    \
             /// Runs the program on already-flattened inputs.\n    \
             pub fn call_flat(&self, leaves: &[{RT}::InputLeaf]) -> Result<Vec<{RT}::Tensor>, {RT}::RunError> {{\n\
             {body}        Ok(vec![{}])\n    }}\n\n{WITH_WORKSPACE}}}\n",
            results.join(", ")
        );
    }
}

/// The model's own workspace, or a fresh one while another call holds it.
const WITH_WORKSPACE: &str = "    fn with_workspace<T>(
        &self,
        f: impl FnOnce(&mut Workspace) -> Result<T, ::ferrex_aot::rt::RunError>,
    ) -> Result<T, ::ferrex_aot::rt::RunError> {
        let mut guard = match self.ws.try_lock() {
            Ok(g) => Some(g),
            Err(::std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(::std::sync::TryLockError::WouldBlock) => None,
        };
        match guard.as_deref_mut() {
            Some(Some(ws)) => f(ws),
            Some(slot) => f(slot.insert(Workspace::new()?)),
            None => f(&mut Workspace::new()?),
        }
    }
";
