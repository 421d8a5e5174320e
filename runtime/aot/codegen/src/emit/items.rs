//! The items around the steps: `Model` (weights), `Workspace` (slots), `forward`
//! (typed, on slices) and `call` (the `CompiledProgram::call` drop-in).

use std::collections::BTreeSet;
use std::fmt::Write;

use ferrex_runtime::plan::ConstOrigin;

use super::literal::{fused_program, shape};
use super::prepack::Blob;
use super::Gen;
use crate::AotError;

const RT: &str = "::ferrex_aot::rt";

fn meta(sizes: &[usize]) -> String {
    format!("f32{}", shape(sizes))
}

/// `f32[s0, 20]`: a meta in messages and docs.
pub(super) fn sym_meta(dtype: &str, sizes: &[ferrex::SymInt]) -> String {
    let items: Vec<String> = sizes.iter().map(ToString::to_string).collect();
    format!("{dtype}[{}]", items.join(", "))
}

impl Gen<'_> {
    /// The constants `Model::new` computes: those `forward` reads, those packed, and
    /// what they are copied from, in plan order (sources first). Prepacked, folded values
    /// and batch-norm scales come from the build script, not from their sources.
    pub(super) fn needed_consts(&self) -> BTreeSet<usize> {
        let prepacked = self.options.prepack.is_some();
        let folded_from = |c: usize| -> Vec<usize> {
            match self.plan.const_origins.get(c) {
                Some(ConstOrigin::Reshaped { src }) => vec![*src],
                Some(ConstOrigin::Folded { .. } | ConstOrigin::BatchNorm { .. }) if prepacked => {
                    Vec::new()
                }
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
        needed.extend(&self.const_tensors);
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

    /// `let c{c} = …;` for constant `c` (read from the prepacked file when `blob` is
    /// given and it is computed from the weights); the bytes it reads from the archive.
    fn const_local(
        &self,
        c: usize,
        code: &mut String,
        blob: Option<&mut Blob>,
    ) -> Result<usize, AotError> {
        let sizes = self.const_meta(c).map(|m| m.1).unwrap_or_default();
        let lazy = blob.is_some() && self.only_packed(c);
        if self.prepacked_const(c, &sizes, blob, code)? {
            return Ok(0);
        }
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
                let read = format!(
                    "{RT}::f32_le(archive, {}, {})?",
                    stored.offset, stored.numel
                );
                let read = match lazy {
                    // Only packed: read when the build script's panels are not used.
                    true => format!("match prepacked {{ true => Vec::new(), false => {read} }}"),
                    false => read,
                };
                let _ = writeln!(
                    code,
                    "        // `{target}`: {}\n        let c{c} = {read};",
                    meta(&sizes)
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

    /// The mutated buffers' fields (`b{k}`, their state) and their first value, read
    /// from the archive; the bytes read.
    fn buffer_fields(
        &self,
        body: &mut String,
        fields: &mut String,
        init: &mut String,
    ) -> Result<usize, AotError> {
        let mut bytes = 0;
        for (k, input) in self.inputs.iter().enumerate() {
            let Some(target) = &input.buffer else {
                continue;
            };
            let stored = match self.stored.tensors.get(target) {
                Some(Ok(t)) if t.numel == super::steps::numel(&input.sizes).hint() as usize => t,
                _ => {
                    return Err(
                        self.unsupported(format!("the buffer `{target}` is not stored as read"))
                    )
                }
            };
            let _ = writeln!(
                body,
                "        // `{target}`, mutated by the program: {}\n        let b{k} = {RT}::f32_le(archive, {}, {})?;",
                sym_meta("f32", &input.sizes),
                stored.offset,
                stored.numel
            );
            bytes += stored.numel * 4;
            let _ = writeln!(fields, "    b{k}: ::std::sync::Mutex<Vec<f32>>,");
            let _ = writeln!(init, "            b{k}: ::std::sync::Mutex::new(b{k}),");
        }
        Ok(bytes)
    }

    /// The packed GEMM weights' fields (`w{i}`), packed in `Model::new` (or read from
    /// the prepacked file `blob` when this build's layout is the recorded one), and the
    /// prepared convolution weights' (`k{n}`).
    fn packed_weights(
        &self,
        body: &mut String,
        fields: &mut String,
        init: &mut String,
        mut blob: Option<&mut Blob>,
    ) -> Result<(), AotError> {
        for (i, source) in &self.packs {
            let sizes = self.const_meta(source.konst).map(|m| m.1);
            let [r, cols] = sizes.as_deref().unwrap_or_default()[..] else {
                return Err(self.unsupported(format!("the weight of step {i} is not 2-D")));
            };
            match blob.as_deref_mut() {
                Some(blob) => self.prepacked_pack(*i, source, [r, cols], blob, body)?,
                None => {
                    let _ = writeln!(
                        body,
                        "        let w{i} = {RT}::pack(&c{}, [{r}, {cols}], {})\n            .map_err(|e| {RT}::RunError::Malformed(e.to_string()))?;",
                        source.konst, source.transposed
                    );
                }
            }
            let _ = writeln!(fields, "    w{i}: {RT}::PackedB,");
            let _ = writeln!(init, "            w{i},");
        }
        // Convolution weights prepared for the kernel (`k{n}`), at their step's geometry.
        for (n, (konst, geom)) in self.conv_weights.iter().enumerate() {
            let _ = writeln!(
                body,
                "        let k{n} = {RT}::ConvWeight::prepare(&c{konst}, &{geom})\n            .map_err(|e| {RT}::RunError::Malformed(e.to_string()))?;"
            );
            let _ = writeln!(fields, "    k{n}: {RT}::ConvWeight,");
            let _ = writeln!(init, "            k{n},");
        }
        Ok(())
    }

    /// `struct Model` and `Model::new`; returns the weight bytes read from the archive,
    /// and the prepacked file when the options ask for one.
    pub(super) fn model(&self, code: &mut String) -> Result<(usize, Option<Vec<u8>>), AotError> {
        let mut fields = String::new();
        let mut init = String::new();
        let mut body = String::new();
        let mut bytes = 0;
        let mut blob = self.options.prepack.as_ref().map(|_| Blob::default());
        if blob.is_some() {
            let _ = writeln!(
                body,
                "        // The build script's panels, when this build packs in their layout.\n        \
                 let prepacked = {RT}::packed_layout() == PREPACKED_LAYOUT;"
            );
            fields.push_str("    prepacked: bool,\n");
            init.push_str("            prepacked,\n");
        }
        for c in self.needed_consts() {
            bytes += self.const_local(c, &mut body, blob.as_mut())?;
            if self.const_fields.contains(&c) {
                let _ = writeln!(fields, "    c{c}: Vec<f32>,");
                let _ = writeln!(init, "            c{c},");
            }
        }
        for &c in &self.const_tensors {
            let shape = self.const_meta(c).map(|m| m.1).unwrap_or_default();
            let _ = writeln!(
                body,
                "        let t{c} = {RT}::tensor_of_f32(&c{c}, &{shape:?})?;"
            );
            let _ = writeln!(fields, "    t{c}: {RT}::Tensor,");
            let _ = writeln!(init, "            t{c},");
        }
        self.packed_weights(&mut body, &mut fields, &mut init, blob.as_mut())?;
        bytes += self.buffer_fields(&mut body, &mut fields, &mut init)?;
        for (i, op) in self.ops.iter().enumerate() {
            let _ = writeln!(fields, "    o{i}: &'static {RT}::OpDef,");
            let _ = writeln!(init, "            o{i}: {RT}::op({op:?})?,");
        }
        for (i, target) in self.hops.iter().enumerate() {
            let _ = writeln!(fields, "    hop{i}: &'static dyn {RT}::HigherOrderOp,");
            let _ = writeln!(init, "            hop{i}: {RT}::hop({target:?})?,");
        }
        for (i, prog) in &self.programs {
            let _ = writeln!(fields, "    f{i}: {RT}::FusedProgram,");
            let _ = writeln!(init, "            f{i}: {},", fused_program(prog));
        }
        self.prepacked_items(code);
        let _ = write!(
            code,
            "/// The program `{name}`, compiled ahead of time: its weights, read once, and the\n\
             /// plan's steps as code (`forward`, `call`).\n\
             pub struct Model {{\n{fields}    ws: ::std::sync::Mutex<Option<Workspace>>,\n}}\n\n\
             impl Model {{\n{new}    \
             /// Reads the weights from `archive` — the program's `.pt2`, the very file this\n    \
             /// module was generated from (refused otherwise) — and prepares them once.\n    \
             pub fn from_bytes(archive: &[u8]) -> Result<Model, {RT}::LoadError> {{\n        \
             Self::from_side_file(archive, \"the bytes given\")\n    }}\n\n    \
             /// [`Model::from_bytes`] of the file at `path`.\n    \
             pub fn from_file(path: impl AsRef<::std::path::Path>) -> Result<Model, {RT}::LoadError> {{\n        \
             let path = path.as_ref();\n        \
             Self::from_side_file(&{RT}::read_archive(path)?, &path.display().to_string())\n    }}\n\n    \
             fn from_side_file(archive: &[u8], shown: &str) -> Result<Model, {RT}::LoadError> {{\n        \
             {RT}::check_fingerprint(archive, ARCHIVE_LEN, FINGERPRINT, ARCHIVE_NAME, shown)?;\n        \
             Self::from_archive(archive).map_err(|e| {RT}::weights_error(shown, e))\n    }}\n\n    \
             /// The weights read from a checked archive and prepared (GEMM weights packed).\n    \
             fn from_archive(archive: &[u8]) -> Result<Model, {RT}::RunError> {{\n{body}        Ok(Model {{\n{init}            \
             ws: ::std::sync::Mutex::new(None),\n        }})\n    }}\n}}\n\n",
            name = self.ep.model_name(),
            new = if self.options.embed_weights {
                format!(
                    "    /// Reads the weights from the embedded archive and prepares them (GEMM\n    \
                     /// weights packed), once.\n    \
                     pub fn new() -> Result<Model, {RT}::RunError> {{\n        \
                     Self::from_archive(ARCHIVE)\n    }}\n\n"
                )
            } else {
                String::new()
            },
        );
        if blob.is_some() {
            code.push_str(
                "impl Model {\n    /// Whether the weights came packed from the build script (else this build\n    \
                 /// packs in another layout than the recorded one, and `new` packed them).\n    \
                 pub fn uses_prepacked_weights(&self) -> bool {\n        self.prepacked\n    }\n}\n\n",
            );
        }
        Ok((bytes, blob.map(|b| b.bytes)))
    }
}
