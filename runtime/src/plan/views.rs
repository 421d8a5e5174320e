//! Views read in place: a fused step reading a view step's copy (a `chunk` or `split`
//! of gates, a `slice`, `select` or `permute` of a value) reads the viewed value
//! through the view instead ([`ReadView`]), and a view step no other step reads is
//! gone. An LSTM's step chunked its gates into four copies before its fused gate
//! arithmetic (four of its nine steps per time step).

use super::{memory, Builder, FixedView, Kind, Operand, ReadView, ViewOp, V};

impl Builder<'_> {
    /// Rewrites fused steps' inputs that are view steps into reads through the view;
    /// drops the view steps left unread. Runs after fusion, before memory planning.
    pub(super) fn read_views_in_place(&mut self) {
        let mut readers = vec![0usize; self.steps.len()];
        for step in self.steps.iter().flatten() {
            for v in memory::buffers(step).reads {
                if let Some(r) = readers.get_mut(v) {
                    *r += 1;
                }
            }
        }
        let mut absorbed = Vec::new();
        for v in 0..self.steps.len() {
            let Some(Kind::Fused { inputs, .. }) = self.steps[v].as_ref().map(|s| &s.kind) else {
                continue;
            };
            let reads: Vec<(usize, Operand, ReadView)> = (inputs.iter().enumerate())
                .filter_map(|(i, o)| {
                    let Operand::Val(u) = *o else { return None };
                    let (x, view) = self.view_step(u)?;
                    Some((i, x, view))
                })
                .collect();
            if reads.is_empty() {
                continue;
            }
            let Some(Kind::Fused { inputs, views, .. }) =
                self.steps[v].as_mut().map(|s| &mut s.kind)
            else {
                continue;
            };
            views.resize(inputs.len(), None);
            for (i, x, view) in reads {
                if let Operand::Val(u) = inputs[i] {
                    readers[u] -= 1;
                    absorbed.push(u);
                }
                if let Operand::Val(x) = x {
                    readers[x] += 1;
                }
                inputs[i] = x;
                views[i] = Some(view);
            }
        }
        for u in absorbed {
            if readers[u] == 0 && !self.in_output[u] {
                self.steps[u] = None;
            }
        }
    }

    /// The value a view step `u` views and the view, where a fused step can read it
    /// through that view: `u` is no graph output and views a value as it is stored.
    fn view_step(&self, u: V) -> Option<(Operand, ReadView)> {
        if self.in_output[u] {
            return None;
        }
        let step = self.steps[u].as_ref()?;
        let (x, view) = match &step.kind {
            Kind::View { x, view } => (*x, view.clone()),
            Kind::Permute { x, dims } => (*x, ViewOp::Permute { dims: dims.clone() }),
            _ => return None,
        };
        // Only views whose rows stay in order, which a fused chunk reads in place; a
        // transpose of the last dim is a gather per element there, where the permute
        // step's copy is blocked for the cache.
        let of = match x {
            Operand::Val(x) => &self.meta(x)?.sizes,
            Operand::Const(_) => return None,
        };
        let rank = of.len();
        let last = rank.checked_sub(1)?;
        let rows_in_order = match &view {
            ViewOp::Reshape | ViewOp::Expand => true,
            ViewOp::Select { dim, .. } => *dim != last,
            ViewOp::Slice { dim, step, .. } => *dim != last || *step == 1,
            ViewOp::Permute { dims } => dims.last() == Some(&last),
        };
        if !rows_in_order {
            return None;
        }
        Some((
            x,
            ReadView {
                fixed: FixedView::of(&view, &step.sizes, of),
                view,
                sizes: step.sizes.clone(),
            },
        ))
    }
}
