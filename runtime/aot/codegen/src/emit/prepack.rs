//! Build-time prepacking (`AotOptions::prepack`, the `Builder`'s path): the packed GEMM
//! weight panels and the derived constants (folded values, batch-norm scales and shifts)
//! computed by the build script from the program's data plan (`ferrex_runtime::compile`,
//! the very values `Model::new` would compute) and written to one file of 64-byte
//! aligned little-endian entries, which the generated code `include_bytes!`. `Model::new`
//! then decodes them instead of packing and folding — when the running build's packed
//! layout ([`crate::packed_layout`]) is the one recorded; otherwise it packs as without
//! prepacking (a cross-compiled binary, other kernels).

use std::fmt::Write;

use ferrex_runtime::plan::{ConstOrigin, PackSource};

use super::Gen;
use crate::AotError;

const RT: &str = "::ferrex_aot::rt";

/// The prepacked file being written: entries 64-byte aligned.
#[derive(Default)]
pub(super) struct Blob {
    pub bytes: Vec<u8>,
}

impl Blob {
    /// Appends `data` (little-endian) at the next 64-byte boundary; its offset.
    fn push(&mut self, data: &[f32]) -> usize {
        self.bytes.resize(self.bytes.len().next_multiple_of(64), 0);
        let offset = self.bytes.len();
        self.bytes.extend(data.iter().flat_map(|x| x.to_le_bytes()));
        offset
    }
}

impl Gen<'_> {
    /// The f32 data of constant `c` in the data plan, when it has `sizes`.
    fn data_const(&self, c: usize, sizes: &[usize]) -> Result<Vec<f32>, AotError> {
        let s = self.data.and_then(|p| p.consts.get(c));
        match s {
            Some(s) if s.dtype() == ferrex::DType::F32 && s.shape() == sizes => Ok(s.to_vec()),
            _ => Err(self.unsupported(format!(
                "constant {c} of the plan is not the f32{sizes:?} the data plan holds"
            ))),
        }
    }

    /// `let c{c} = …;` read from the prepacked file, for a constant computed from the
    /// weights (folded, a batch norm's scale or shift); `false` for the others.
    pub(super) fn prepacked_const(
        &self,
        c: usize,
        sizes: &[usize],
        blob: Option<&mut Blob>,
        code: &mut String,
    ) -> Result<bool, AotError> {
        let Some(blob) = blob else {
            return Ok(false);
        };
        let what = match self.plan.const_origins.get(c) {
            Some(ConstOrigin::Folded { node, .. }) => {
                let node = self.ep.graph().nodes.get(*node);
                format!("`{}`, folded", node.map_or("?", |n| n.name.as_str()))
            }
            Some(ConstOrigin::BatchNorm { shift, .. }) => {
                format!("a batch norm's {}", if *shift { "shift" } else { "scale" })
            }
            _ => return Ok(false),
        };
        let data = self.data_const(c, sizes)?;
        let offset = blob.push(&data);
        let _ = writeln!(
            code,
            "        // {what} by the build script: f32{}\n        let c{c} = {RT}::f32_le(PREPACKED, {offset}, {})?;",
            super::literal::shape(sizes),
            data.len()
        );
        Ok(true)
    }

    /// `let w{i} = …;`: the panels packed by the build script when this build's layout
    /// is the recorded one, else packed here.
    pub(super) fn prepacked_pack(
        &self,
        i: usize,
        source: &PackSource,
        [r, cols]: [usize; 2],
        blob: &mut Blob,
        code: &mut String,
    ) -> Result<(), AotError> {
        let data = self.data_const(source.konst, &[r, cols])?;
        let packed = ferrex_runtime::step::pack(&data, [r, cols], source.transposed)
            .map_err(|e| self.unsupported(format!("packing the weight of step {i}: {e}")))?;
        let [k, n] = packed.shape();
        let offset = blob.push(packed.as_slice());
        let _ = writeln!(
            code,
            "        let w{i} = match prepacked {{\n            \
             true => {RT}::packed_panels(PREPACKED, {offset}, [{k}, {n}])?,\n            \
             false => {RT}::pack(&c{}, [{r}, {cols}], {})\n                \
             .map_err(|e| {RT}::RunError::Malformed(e.to_string()))?,\n        }};",
            source.konst, source.transposed
        );
        Ok(())
    }

    /// Whether constant `c` is only the source of packed weights (prepacked: read only
    /// when the build script's panels are not used).
    pub(super) fn only_packed(&self, c: usize) -> bool {
        let copied = |d: usize| {
            let origin = self.plan.const_origins.get(d);
            matches!(origin, Some(ConstOrigin::Reshaped { src }) if *src == c)
        };
        !self.const_fields.contains(&c)
            && self.packs.iter().any(|(_, s)| s.konst == c)
            && !self.needed_consts().into_iter().any(copied)
    }

    /// The items naming the prepacked file and its layout.
    pub(super) fn prepacked_items(&self, code: &mut String) {
        let Some(p) = &self.options.prepack else {
            return;
        };
        let _ = writeln!(
            code,
            "/// GEMM weight panels and derived constants computed by the build script (64-byte\n\
             /// aligned little-endian entries), used when this build packs weights in the\n\
             /// layout recorded with them.\n\
             const PREPACKED: &[u8] = include_bytes!({:?});\n\
             const PREPACKED_LAYOUT: &str = {:?};\n",
            p.path, p.layout
        );
    }
}
