//! In-place ops on views, functionalized as PyTorch's core IR records them. A write into
//! a view (`y[:, 0] += 1`, `cache[:, 0:2] = x`, `x.t().mul_(2)`, `h.view(-1)[i] = v`)
//! becomes the new value of the view and a write-back into the viewed tensor
//! (`select_scatter` / `slice_scatter`, or the view op's inverse: `ops::view_inverse`,
//! the rule the tensor API's views follow), which is then the viewed tensor's current
//! contents (and so, for an input or a buffer, a mutation of the program). Views of a
//! tensor written since they were taken are taken again before they are next read. A
//! write through any other view (`reshape`, `expand` repeating elements, …) is refused.

use super::GraphReader;
use crate::error::LoadError;
use crate::graph::{Arg, Node, NodeId, NodeKind};
use crate::ops::view_inverse::{write_back, WriteArg};
use crate::ops::{OpDef, Value};

/// A view the reader can write through: `op(base, args…)`.
#[derive(Clone, Debug)]
pub(super) struct ViewOf {
    /// The root of the viewed tensor.
    pub(super) base: NodeId,
    pub(super) op: &'static OpDef,
    /// The view's arguments after `self`.
    pub(super) args: Vec<Arg>,
    /// The value of the viewed tensor the view's contents correspond to.
    pub(super) seen: NodeId,
}

/// A view's number arguments as the tensor API holds them (`None` for others).
fn values_of(args: &[Arg]) -> Option<Vec<Value>> {
    (args.iter())
        .map(|a| match a {
            Arg::Int(i) => Some(Value::Int(i.clone())),
            Arg::IntList(l) => Some(Value::IntList(l.clone())),
            Arg::None => Some(Value::None),
            _ => None,
        })
        .collect()
}

/// A write-back's number argument in the graph (`None` for symbolic sizes, which the
/// graph names by `sym_size` nodes).
fn arg_of(v: Value) -> Option<Arg> {
    let known = |i: &crate::symbolic::SymInt| matches!(i, crate::symbolic::SymInt::Int(_));
    match v {
        Value::Int(i) => Some(Arg::Int(i)),
        Value::IntList(l) if l.iter().all(known) => Some(Arg::IntList(l)),
        Value::None => Some(Arg::None),
        _ => None,
    }
}

impl GraphReader<'_> {
    /// The node holding the current contents of root `root`.
    fn current(&self, root: NodeId) -> NodeId {
        self.latest.get(&root).copied().unwrap_or(root)
    }

    fn root_of(&self, id: NodeId) -> NodeId {
        self.root.get(&id).copied().unwrap_or(id)
    }

    /// Remembers node `id` if it is a view the reader can write through.
    pub(super) fn note_view(&mut self, id: NodeId) {
        let NodeKind::Call { op, args } = &self.graph.node(id).kind else {
            return;
        };
        let Some(Arg::Tensor(base)) = args.first() else {
            return;
        };
        let Some(values) = values_of(&args[1..]) else {
            return;
        };
        // A view op that writes through (the sizes do not matter here).
        if write_back(op, &values, &[], &[]).is_none() {
            return;
        }
        let view = ViewOf {
            base: self.root_of(*base),
            op,
            args: args[1..].to_vec(),
            seen: *base,
        };
        self.views.insert(id, view);
    }

    /// The node writing `value`, the new contents of view `view` (node `root`), back into
    /// the viewed tensor's current contents `base_now`.
    fn written_back(
        &self,
        view: &ViewOf,
        root: NodeId,
        base_now: NodeId,
        value: NodeId,
        at: &str,
    ) -> Result<NodeKind, LoadError> {
        let sizes = |id: NodeId| {
            (self.graph.node(id).meta.first())
                .map(|m| m.sizes.clone())
                .unwrap_or_default()
        };
        let (base_sizes, view_sizes) = (sizes(base_now), sizes(root));
        let values = values_of(&view.args).unwrap_or_default();
        let refused = |why: String| {
            self.bad(
                at,
                format!(
                    "an in-place op on `{}`, a view ({}), cannot reach its tensor: {why}",
                    self.graph.node(root).name,
                    view.op.name()
                ),
            )
        };
        let (op, args) = match write_back(view.op, &values, &base_sizes, &view_sizes) {
            Some(Ok(call)) => call,
            Some(Err(why)) => return Err(refused(why)),
            None => return Err(refused("ferrex does not write through it".into())),
        };
        let args = (args.into_iter())
            .map(|a| match a {
                WriteArg::Base => Some(Arg::Tensor(base_now)),
                WriteArg::Value => Some(Arg::Tensor(value)),
                WriteArg::Arg(v) => arg_of(v),
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| refused("the tensor's sizes are symbolic".into()))?;
        Ok(NodeKind::Call { op, args })
    }

    /// A node the reader adds (a scatter, a view taken again), named apart from every
    /// name of the file, with the meta of `like` and the source line of `cause`.
    fn push_synthesized(
        &mut self,
        base_name: &str,
        kind: NodeKind,
        like: NodeId,
        cause: NodeId,
    ) -> NodeId {
        let mut name = base_name.to_string();
        let mut k = 1;
        while self.values.contains_key(&name) || self.names.contains(&name) {
            name = format!("{base_name}_{k}");
            k += 1;
        }
        let template = self.graph.node(like);
        let node = Node {
            name: name.clone(),
            kind,
            meta: template.meta.clone(),
            source: self.graph.node(cause).source,
        };
        let id = self.graph.push(node);
        self.values.insert(name, id);
        self.root.insert(id, id);
        id
    }

    /// After an in-place call `id` on `target`: `id` holds the contents of `target`'s
    /// root from now on; through a view, the viewed tensor is updated too.
    pub(super) fn record_mutation(
        &mut self,
        target: NodeId,
        id: NodeId,
        at: &str,
    ) -> Result<(), LoadError> {
        self.write(target, id, at)?;
        self.take_stale_views_again(id);
        Ok(())
    }

    fn write(&mut self, target: NodeId, id: NodeId, at: &str) -> Result<(), LoadError> {
        let root = self.root_of(target);
        self.root.insert(id, root);
        self.latest.insert(root, id);
        if let Some(view) = self.views.get(&root).cloned() {
            let base_now = self.current(view.base);
            let kind = self.written_back(&view, root, base_now, id, at)?;
            let name = match &kind {
                NodeKind::Call { op, .. } => op.base_name(),
                _ => String::new(),
            };
            let written = self.push_synthesized(&name, kind, base_now, id);
            self.write(view.base, written, at)?;
            let seen = self.current(view.base);
            if let Some(v) = self.views.get_mut(&root) {
                v.seen = seen;
            }
            return Ok(());
        }
        if let Some(op) = self.graph.node(root).op() {
            if op.schema.contains("-> Tensor(a") {
                return Err(self.bad(
                    at,
                    format!(
                        "an in-place op on `{}`, a view ({}), is not supported: ferrex writes \
                         through `select`, `slice`, `t`, `transpose`, `permute`, `view`, \
                         `unsqueeze`, `squeeze` and `expand` views only",
                        self.graph.node(root).name,
                        op.schema.split('(').next().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Views whose tensor was written since they were taken, and which a later node
    /// reads, are taken again from the tensor's current contents.
    fn take_stale_views_again(&mut self, cause: NodeId) {
        let mut ids: Vec<NodeId> = self.views.keys().copied().collect();
        ids.sort_by_key(|id| id.0);
        for w in ids {
            let Some(view) = self.views.get(&w).cloned() else {
                continue;
            };
            let base_now = self.current(view.base);
            if base_now == view.seen || !self.read_later(w) {
                continue;
            }
            let mut args = vec![Arg::Tensor(base_now)];
            args.extend(view.args.iter().cloned());
            let kind = NodeKind::Call { op: view.op, args };
            let again = self.push_synthesized(&view.op.base_name(), kind, w, cause);
            self.root.insert(again, w);
            self.latest.insert(w, again);
            if let Some(v) = self.views.get_mut(&w) {
                v.seen = base_now;
            }
        }
    }

    /// Whether a node after the one being read reads a value whose root is `root`.
    fn read_later(&self, root: NodeId) -> bool {
        self.values.iter().any(|(name, id)| {
            self.root_of(*id) == root
                && self
                    .last_read
                    .get(name)
                    .is_some_and(|&last| last > self.index)
        })
    }
}
