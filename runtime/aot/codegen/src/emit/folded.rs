//! Constants the plan folded (a call on constants only, computed at compile time) are
//! computed again in `Model::new` by the same op's eager kernel, from the stored
//! weights: derived values are never written into the code.

use std::fmt::Write;

use ferrex::graph::{Arg, NodeKind};
use ferrex_runtime::plan::InputSource;

use super::literal::shape;
use super::Gen;
use crate::AotError;

const RT: &str = "::ferrex_aot::rt";

impl Gen<'_> {
    /// The constant holding value `v` of the graph (a frozen placeholder or a folded
    /// value).
    fn const_of_value(&self, v: usize) -> Option<usize> {
        let frozen = self.plan.inputs.iter().find_map(|(x, s)| match s {
            InputSource::Frozen(c) if *x == v => Some(*c),
            _ => None,
        });
        frozen
            .or_else(|| (self.plan.const_values.iter()).find_map(|(x, c)| (*x == v).then_some(*c)))
    }

    /// The constants a folded node reads.
    pub(super) fn folded_args(&self, node: usize) -> Vec<usize> {
        match self.ep.graph().nodes.get(node).map(|n| &n.kind) {
            Some(NodeKind::Call { args, .. }) => args
                .iter()
                .flat_map(|a| a.nodes())
                .filter_map(|n| self.const_of_value(n.0))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// An argument of a folded call as an `rt::Value` expression (the fallbacks'
    /// `value_of`), its tensors read from the constants.
    fn value_expr(&self, a: &Arg) -> Result<String, AotError> {
        let tensor = |n: &ferrex::graph::NodeId| -> Result<String, AotError> {
            let c = self.const_of_value(n.0);
            let sizes = c.and_then(|c| self.const_meta(c)).map(|m| m.1);
            match (c, sizes) {
                (Some(c), Some(sizes)) => {
                    Ok(format!("{RT}::const_tensor(&c{c}, &{})?", shape(&sizes)))
                }
                _ => Err(self.unsupported(format!("a folded constant's argument {a:?}"))),
            }
        };
        self.value_of(&a.try_map(tensor)?)
    }

    /// `let c{c} = rt::fold(op, args, output)?;`.
    pub(super) fn folded_local(
        &self,
        c: usize,
        node: usize,
        output: usize,
        sizes: &[usize],
        code: &mut String,
    ) -> Result<(), AotError> {
        let n = self.ep.graph().nodes.get(node);
        let Some((name, NodeKind::Call { op, args })) = n.map(|n| (&n.name, &n.kind)) else {
            return Err(self.unsupported(format!("constant {c} is folded from a non-call")));
        };
        if self.const_meta(c).map(|m| m.0) != Some(ferrex::DType::F32) {
            return Err(self.unsupported(format!("`{name}` folds to a non-f32 constant")));
        }
        let values = args
            .iter()
            .map(|a| self.value_expr(a))
            .collect::<Result<Vec<_>, _>>()?;
        let _ = writeln!(
            code,
            "        // `{name}` = {}(…), folded: f32{}\n        let c{c} = {RT}::fold({:?}, &[{}], {output})?;",
            op.name(),
            shape(sizes),
            op.name(),
            values.join(", ")
        );
        Ok(())
    }
}
