//! The entry points around the steps: `Workspace` (slots), `forward` (typed, on
//! slices), `call` (the `CompiledProgram::call` drop-in) and, for a program with dynamic
//! dims, `dims` and the outputs' sizes.

use std::fmt::Write;

use ferrex::SymInt;

use ferrex::program::{ConstantValue, OutputKind};

use super::control::{data_dependent, out_params};
use super::items::sym_meta;
use super::literal::f64_lit;
use super::steps::numel;
use super::{Gen, Leaf};

const RT: &str = "::ferrex_aot::rt";

/// The largest workspace sized at the dims' upper bounds (bytes); above, `Workspace::new`
/// sizes the slots for the example inputs and they grow on demand.
const UPPER_BOUND_WORKSPACE: usize = 1 << 28;

/// A user output: the expression it is copied from and its sizes.
pub(super) type Output = (String, Vec<SymInt>);

impl Gen<'_> {
    /// The slots' lengths when the workspace is made: at the dims' upper bounds when
    /// every bound symbol has one (and the total stays under a limit), else at the
    /// example sizes; and which it is.
    fn slot_lengths(&self) -> (Vec<usize>, bool) {
        let Some(upper) = self.upper_bounds().filter(|_| self.dims.dynamic()) else {
            return (self.slot_len.clone(), false);
        };
        let mut len = self.slot_len.clone();
        for (l, needs) in len.iter_mut().zip(&self.slot_needs) {
            for n in needs {
                let v = n
                    .expr()
                    .eval(&|s| upper.get(&s).copied())
                    .unwrap_or(i64::MAX);
                *l = (*l).max(usize::try_from(v).unwrap_or(usize::MAX));
            }
        }
        let bytes = len
            .iter()
            .try_fold(0usize, |a, &n| a.checked_add(n.checked_mul(4)?));
        match bytes {
            Some(b) if b <= UPPER_BOUND_WORKSPACE => (len, true),
            _ => (self.slot_len.clone(), false),
        }
    }

    /// `struct Workspace`: the plan's slots, allocated once.
    pub(super) fn workspace(&self, code: &mut String) {
        let (lens, at_upper) = self.slot_lengths();
        let eager_fields = (self.eager.iter()).map(|v| format!("    e{v}: Vec<{RT}::Storage>,\n"));
        let fields: String = (0..lens.len())
            .map(|s| format!("    s{s}: Vec<f32>,\n"))
            .chain(eager_fields)
            .collect();
        let eager_init = (self.eager.iter()).map(|v| format!("            e{v}: Vec::new(),\n"));
        let (extra_fields, extra_init) = self.workspace_extra();
        let fields = fields + &extra_fields;
        let init: String = (lens.iter().enumerate())
            .map(|(s, n)| format!("            s{s}: {RT}::zeros({n})?,\n"))
            .chain(eager_init)
            .collect::<String>()
            + &extra_init;
        let name = self.workspace_name();
        let sized = match (self.dims.dynamic(), at_upper) {
            (false, _) => "allocated once and reused by every call.",
            (true, true) => "allocated once at the dims' upper bounds, so no call grows them.",
            (true, false) => {
                "allocated for the example inputs' sizes; a call on larger\n\
                 /// inputs grows the slots it needs first (some dim has no upper bound)."
            }
        };
        let _ = write!(
            code,
            "/// The buffers `Model::{}` computes in (the plan's {} slots, {} bytes),\n\
             /// {sized}\n\
             pub struct {name} {{\n{fields}}}\n\n\
             impl {name} {{\n    /// Allocates the slots.\n    \
             pub fn new() -> Result<{name}, {RT}::RunError> {{\n        Ok({name} {{\n{init}        }})\n    }}\n}}\n\n",
            self.function_name(),
            lens.len(),
            lens.iter().sum::<usize>() * 4
        );
    }

    /// `ws.sN` grown to what this call needs, for each slot whose size is per call.
    pub(super) fn fits(&self) -> String {
        let mut code = String::new();
        for (s, needs) in self.slot_needs.iter().enumerate() {
            if !needs.is_empty() {
                let lens: Vec<String> = needs.iter().map(|n| self.dim(n)).collect();
                let _ = writeln!(
                    code,
                    "        {RT}::fit(&mut ws.s{s}, &[{}])?;",
                    lens.join(", ")
                );
            }
        }
        code
    }

    /// `forward(&self, ws, inputs…, outputs…)`, the steps inline or in parts.
    pub(super) fn forward(&self, code: &mut String, bodies: &[String], outputs: &[Output]) {
        let dynamic = self.dims.dynamic();
        let arg = |i: &super::UserInput| format!(", {}: &[{}]", i.ident, i.dtype);
        let ins: String = self.user_inputs().map(arg).collect();
        let outs = out_params(outputs);
        let doc_in: Vec<String> = (self.user_inputs())
            .map(|i| format!("`{}`: {}", i.ident, sym_meta(i.dtype, &i.sizes)))
            .collect();
        let doc_out: Vec<String> = (outputs.iter().enumerate())
            .map(|(k, (_, s))| format!("`out{k}`: {}", sym_meta("f32", s)))
            .collect();
        let (doc_in, doc_out) = (doc_in.join(", "), doc_out.join(", "));
        code.push_str("impl Model {\n");
        if dynamic {
            self.dynamic_forward(code, &ins, outputs, (&doc_in, &doc_out));
        } else {
            let _ = write!(
                code,
                "    /// Runs the program on row-major slices ({doc_in}) into `outputs` ({doc_out}).\n    \
                 /// Allocates no buffer of its own: the plan's buffers are `ws`'s.\n    \
                 pub fn forward(&self, ws: &mut Workspace{ins}{outs}) -> Result<(), {RT}::RunError> {{\n",
            );
        }
        for i in self.user_inputs() {
            let _ = writeln!(
                code,
                "        {RT}::check_len({:?}, {:?}, {}.len(), {})?;",
                i.ident,
                sym_meta(i.dtype, &i.sizes),
                i.ident,
                self.dim(&numel(&i.sizes))
            );
        }
        for (k, (_, s)) in outputs.iter().enumerate() {
            if data_dependent(s) {
                continue;
            }
            let _ = writeln!(
                code,
                "        {RT}::check_len(\"out{k}\", {:?}, out{k}.len(), {})?;",
                sym_meta("f32", s),
                self.dim(&numel(s))
            );
        }
        code.push_str(&self.fits());
        code.push_str(&self.buffer_reads());
        code.push_str(&self.unbacked_reset());
        let (steps, functions) = self.steps_and_parts(bodies);
        code.push_str(&steps);
        code.push_str(&self.output_copies(outputs));
        code.push_str("        Ok(())\n    }\n");
        code.push_str(&functions);
        code.push_str("}\n\n");
        if dynamic {
            self.output_sizes(code, outputs);
        }
    }

    /// The steps as `forward` runs them — inline, or calls of `part{j}` — and the
    /// functions after it: the parts, and the repeated blocks' (`blocks.rs`).
    fn steps_and_parts(&self, bodies: &[String]) -> (String, String) {
        let dynamic = self.dims.dynamic();
        // Parts and blocks take all the inputs (mutated buffers too) and the dims.
        let arg = |i: &super::UserInput| format!(", {}: &[{}]", i.ident, i.dtype);
        let part_ins: String = self.inputs.iter().map(arg).collect();
        let in_names: String = (self.inputs.iter())
            .map(|i| format!(", {}", i.ident))
            .collect();
        let (d_param, d_arg) = if dynamic {
            (", d: &Dims", ", d")
        } else {
            ("", "")
        };
        let shared_params = format!("{d_param}{part_ins}");
        let shared = super::blocks::Shared {
            params: &shared_params,
            args: &format!("{d_arg}{in_names}"),
        };
        let names: Vec<&str> = (self.plan.steps.iter())
            .map(|s| s.info.name.as_str())
            .collect();
        let taken: Vec<&str> = self.inputs.iter().map(|i| i.ident.as_str()).collect();
        let per = self.options.steps_per_function.max(1);
        let layout = super::blocks::layout(bodies, &names, per, &shared, &taken);
        let parts: Vec<&[String]> = layout.items.chunks(per).collect();
        let (mut steps, mut functions) = (String::new(), String::new());
        if let [one] = parts.as_slice() {
            one.iter().for_each(|b| steps.push_str(b));
            functions.push_str(&layout.functions);
            return (steps, functions);
        }
        let mut first = 0;
        for (j, part) in parts.iter().enumerate() {
            let _ = writeln!(steps, "        self.part{j}(ws{})?;", shared.args);
            let n: usize = layout.item_steps[j * per..][..part.len()].iter().sum();
            let _ = write!(
                functions,
                "\n    /// Steps {} to {} of `forward`.\n    \
                 fn part{j}(&self, ws: &mut Workspace{shared_params}) -> Result<(), {RT}::RunError> {{\n{}        Ok(())\n    }}\n",
                first,
                first + n - 1,
                part.concat()
            );
            first += n;
        }
        functions.push_str(&layout.functions);
        (steps, functions)
    }

    /// `dims`, the typed `forward` of a program with dynamic dims, and the head of `run`.
    fn dynamic_forward(&self, code: &mut String, ins: &str, outputs: &[Output], doc: (&str, &str)) {
        let n_out = outputs.len();
        let sizes: String = (self.user_inputs())
            .map(|i| format!(", {}_sizes: [usize; {}]", i.ident, i.sizes.len()))
            .collect();
        let sizes = sizes.trim_start_matches(", ");
        let binds: String = (self.inputs.iter().enumerate())
            .filter(|(_, i)| i.buffer.is_none())
            .map(|(k, i)| {
                format!(
                    "        Dims::bind_input{k}(&mut b, &{}_sizes)?;\n",
                    i.ident
                )
            })
            .collect();
        let args: String = (self.user_inputs())
            .map(|i| {
                format!(
                    ", {0}: &[{2}], {0}_sizes: [usize; {1}]",
                    i.ident,
                    i.sizes.len(),
                    i.dtype
                )
            })
            .collect();
        let size_names: Vec<String> = (self.user_inputs())
            .map(|i| format!("{}_sizes", i.ident))
            .collect();
        let names: String = (self.user_inputs())
            .map(|i| format!(", {}", i.ident))
            .collect();
        let outs = out_params(outputs);
        let out_names: String = (0..n_out).map(|k| format!(", out{k}")).collect();
        let _ = write!(
            code,
            "    /// The sizes of a call on inputs of these sizes, checked as `call` checks them\n    \
             /// (the interpreter's checks and words); `Dims::out0()`… give the outputs' sizes.\n    \
             pub fn dims({sizes}) -> Result<Dims, {RT}::RunError> {{\n        {}\n{binds}        Dims::finish(&b)\n    }}\n\n    \
             /// Runs the program on row-major slices ({}) of the given sizes into `outputs`\n    \
             /// ({}; their sizes: `Model::dims(…)?.out0()`…). Allocates nothing when `ws`\n    \
             /// holds the call's sizes (see `Workspace`); otherwise its slots grow first.\n    \
             pub fn forward(&self, ws: &mut Workspace{args}{outs}) -> Result<(), {RT}::RunError> {{\n        \
             let d = Self::dims({})?;\n        self.run(ws, &d{names}{out_names})\n    }}\n\n    \
             /// `forward` once the sizes are bound.\n    \
             fn run(&self, ws: &mut Workspace, d: &Dims{ins}{outs}) -> Result<(), {RT}::RunError> {{\n",
            self.bound_init(),
            doc.0,
            doc.1,
            size_names.join(", ")
        );
    }

    /// `Dims::out{k}()`: each output's sizes for the call.
    fn output_sizes(&self, code: &mut String, outputs: &[Output]) {
        code.push_str("impl Dims {\n");
        for (k, (_, s)) in outputs.iter().enumerate() {
            if data_dependent(s) {
                continue;
            }
            let _ = write!(
                code,
                "    /// The sizes of output {k} ({}).\n    pub fn out{k}(&self) -> [usize; {}] {{\n        let d = self;\n        {}\n    }}\n\n",
                sym_meta("f32", s),
                s.len(),
                self.shape(s)
            );
        }
        code.push_str("}\n\n");
    }

    /// `call` / `call_flat`: `CompiledProgram::call`'s signature, checks and words.
    pub(super) fn call(&self, code: &mut String, outputs: &[Output]) {
        let names: Vec<String> = (self.ep.arg_names().iter())
            .map(|n| format!("{n:?}"))
            .collect();
        let _ = write!(
            code,
            "/// The names of the program's arguments, for flattening `call`'s tuple.\n\
             const ARG_NAMES: [&str; {}] = [{}];\n\n",
            names.len(),
            names.join(", ")
        );
        let dynamic = self.dims.dynamic();
        let mut body = self.call_inputs();
        for (k, (_, s)) in outputs.iter().enumerate() {
            if data_dependent(s) {
                let _ = writeln!(body, "        let mut out{k} = Vec::new();");
                continue;
            }
            let _ = writeln!(
                body,
                "        let mut out{k} = {RT}::zeros({})?;",
                self.dim(&numel(s))
            );
        }
        let args: String = (self.user_inputs())
            .map(|i| format!(", &{RT}::{}_data(&{})", i.dtype, i.ident))
            .chain((0..outputs.len()).map(|k| format!(", &mut out{k}")))
            .collect();
        let (run, d) = if dynamic {
            ("run", ", &d")
        } else {
            ("forward", "")
        };
        body.push_str(&self.call_run(&format!("self.{run}(ws{d}{args})"), outputs));
        let results = self.call_results(outputs, &mut body);
        let results = self.with_int_outputs(results);
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

impl Gen<'_> {
    /// The inputs the caller passes (not the mutated buffers `Model` keeps).
    pub(super) fn user_inputs(&self) -> impl Iterator<Item = &super::UserInput> {
        self.inputs.iter().filter(|i| i.buffer.is_none())
    }

    /// The outputs copied out of the workspace, then the mutated buffers written.
    fn output_copies(&self, outputs: &[Output]) -> String {
        let mut code = String::new();
        for (k, (expr, s)) in outputs.iter().enumerate() {
            let copy = if data_dependent(s) {
                "copy_out_vec"
            } else {
                "copy_out"
            };
            let _ = writeln!(code, "        {RT}::{copy}(out{k}, {expr})?;");
        }
        for (k, expr) in &self.buffer_writes {
            let _ = writeln!(
                code,
                "        {RT}::copy_out(&mut {}_state, {expr})?;",
                self.inputs[*k].ident
            );
        }
        code
    }

    /// Each mutated buffer locked for the call and read as a slice (written at the end).
    fn buffer_reads(&self) -> String {
        let mut code = String::new();
        for (k, i) in self
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, i)| i.buffer.is_some())
        {
            let _ = writeln!(
                code,
                "        let mut {0}_state = {RT}::lock(&self.b{k});\n        let {0}: &[f32] = &{0}_state;",
                i.ident
            );
        }
        code
    }

    /// The head of `call_flat`: the leaves checked in the interpreter's order (count,
    /// then each tensor or constant input), symbols bound.
    fn call_inputs(&self) -> String {
        let dynamic = self.dims.dynamic();
        let mut body = format!(
            "        {RT}::check_count(leaves, {})?;\n",
            self.leaves.len()
        );
        if dynamic {
            let _ = writeln!(body, "        {}", self.bound_init());
        }
        for (at, leaf) in self.leaves.iter().enumerate() {
            let (k, i) = match leaf {
                Leaf::Constant(name, value) => {
                    let _ = writeln!(
                        body,
                        "        {RT}::check_constant(leaves, {at}, {name:?}, &{})?;",
                        constant(value)
                    );
                    continue;
                }
                Leaf::Tensor(k) => (*k, &self.inputs[*k]),
            };
            if dynamic {
                let _ = writeln!(
                    body,
                    "        let {0} = {RT}::input_{3}_rank(leaves, {at}, {1:?}, {2})?;\n        \
                     Dims::bind_input{k}(&mut b, &{RT}::shape_of(&{0})?)?;",
                    i.ident,
                    i.name,
                    i.sizes.len(),
                    i.dtype
                );
            } else {
                let _ = writeln!(
                    body,
                    "        let {} = {RT}::input_{}(leaves, {at}, {:?}, &{})?;",
                    i.ident,
                    i.dtype,
                    i.name,
                    self.shape(&i.sizes)
                );
            }
        }
        if dynamic {
            body.push_str("        let d = Dims::finish(&b)?;\n");
        }
        body
    }

    /// The user outputs `call` returns; an input mutation's value is written into the
    /// caller's tensor instead (`finish_call`).
    fn call_results(&self, outputs: &[Output], body: &mut String) -> Vec<(usize, String)> {
        let specs = &self.ep.graph_signature().output_specs;
        let mut results = Vec::new();
        for (k, (_, s)) in outputs.iter().enumerate() {
            let shape = match data_dependent(s) {
                true => self.post_shape(outputs, k),
                false => self.shape(s),
            };
            let value = format!("{RT}::tensor(&{shape}, out{k})?");
            let at = self.output_specs.get(k).copied().unwrap_or(k);
            let spec = specs.get(at);
            let target = spec.and_then(|s| s.target.as_deref());
            let leaf = (self.inputs.iter()).find(|i| Some(i.name.as_str()) == target);
            match (spec.map(|s| s.kind), leaf) {
                (Some(OutputKind::UserInputMutation), Some(i)) => {
                    let _ = writeln!(
                        body,
                        "        {RT}::write_input(leaves, {}, {value})?;",
                        i.leaf
                    );
                }
                _ => results.push((at, value)),
            }
        }
        results
    }
}

/// A constant input's value as an `rt::ConstantValue` expression.
fn constant(v: &ConstantValue) -> String {
    match v {
        ConstantValue::Int(i) => format!("{RT}::ConstantValue::Int({i})"),
        ConstantValue::Float(f) => format!("{RT}::ConstantValue::Float({})", f64_lit(*f)),
        ConstantValue::Bool(b) => format!("{RT}::ConstantValue::Bool({b})"),
        ConstantValue::Str(s) => format!("{RT}::ConstantValue::Str(String::from({s:?}))"),
        ConstantValue::None => format!("{RT}::ConstantValue::None"),
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
