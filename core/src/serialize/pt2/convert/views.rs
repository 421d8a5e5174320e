//! In-place ops on views, functionalized as PyTorch's core IR records them. A write into
//! `select` / `slice` of a tensor (`y[:, 0] += 1`, `cache[:, 0:2] = x`) becomes the new
//! value of the view and a `select_scatter` / `slice_scatter` of it into the viewed
//! tensor, which is then the viewed tensor's current contents (and so, for an input or a
//! buffer, a mutation of the program). Views of a tensor written since they were taken
//! are taken again before they are next read. A write through any other view is refused.

use super::GraphReader;
use crate::error::LoadError;
use crate::graph::{Arg, Node, NodeId, NodeKind};
use crate::ops::scatter::{SELECT_SCATTER, SLICE_SCATTER};
use crate::ops::shape::{SELECT_INT, SLICE};
use crate::ops::OpDef;

/// A view the reader can write through: `op(base, args…)`.
#[derive(Clone, Debug)]
pub(super) struct ViewOf {
    /// The root of the viewed tensor.
    pub(super) base: NodeId,
    pub(super) op: &'static OpDef,
    /// The op writing the view's contents back into the viewed tensor.
    pub(super) scatter: &'static OpDef,
    /// The view's arguments after `self`.
    pub(super) args: Vec<Arg>,
    /// The value of the viewed tensor the view's contents correspond to.
    pub(super) seen: NodeId,
}

/// The scatter op writing a view of `op` back into its base.
fn scatter_of(op: &'static OpDef) -> Option<&'static OpDef> {
    if std::ptr::eq(op, &SELECT_INT) {
        Some(&SELECT_SCATTER)
    } else if std::ptr::eq(op, &SLICE) {
        Some(&SLICE_SCATTER)
    } else {
        None
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
        let (Some(scatter), Some(Arg::Tensor(base))) = (scatter_of(op), args.first()) else {
            return;
        };
        let view = ViewOf {
            base: self.root_of(*base),
            op,
            scatter,
            args: args[1..].to_vec(),
            seen: *base,
        };
        self.views.insert(id, view);
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
            let scatter = view.scatter;
            let base_now = self.current(view.base);
            let mut args = vec![Arg::Tensor(base_now), Arg::Tensor(id)];
            args.extend(view.args.iter().cloned());
            let kind = NodeKind::Call { op: scatter, args };
            let written = self.push_synthesized(&scatter.base_name(), kind, base_now, id);
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
                         through `select` and `slice` views only",
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
