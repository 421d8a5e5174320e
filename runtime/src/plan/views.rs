//! Views read in place: a fused step reading a view step's copy (a `chunk` or `split`
//! of gates, a `slice`, `select` or `permute` of a value) reads the viewed value
//! through the view instead ([`ReadView`]), and a view step no other step reads is
//! gone. An LSTM's step chunked its gates into four copies before its fused gate
//! arithmetic (four of its nine steps per time step).

use super::{memory, Builder, FixedView, Kind, Operand, ReadView, ViewChain, ViewOp, V};

impl Builder<'_> {
    /// Rewrites fused steps' inputs that are view steps into reads through the view;
    /// drops the view steps left unread. Runs after fusion, before memory planning.
    pub(super) fn read_views_in_place(&mut self) {
        let mut readers = self.readers();
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

    /// How many steps read each value.
    fn readers(&self) -> Vec<usize> {
        let mut readers = vec![0usize; self.steps.len()];
        for step in self.steps.iter().flatten() {
            for v in memory::buffers(step).reads {
                if let Some(r) = readers.get_mut(v) {
                    *r += 1;
                }
            }
        }
        readers
    }

    /// Lets each attention step read `q`, `k` and `v` through the views that make them
    /// (a projection's output reshaped into heads, permuted and split into three)
    /// instead of the copies those view steps make; drops the view steps left unread.
    /// A causal attention's one permute of its `[b, t, 3 * d]` projection was 6% of its
    /// time. Only where the chain's layout is fixed (every size a number, which the
    /// generated code of `ferrex-aot` writes as such); the batch split's halves lay it
    /// out per call.
    pub(super) fn attention_reads_views(&mut self) {
        let mut readers = self.readers();
        for s in 0..self.steps.len() {
            let Some(Kind::Attention { q, k, v, views, .. }) =
                self.steps[s].as_ref().map(|s| &s.kind)
            else {
                continue;
            };
            if views.is_some() {
                continue;
            }
            let chains = [*q, *k, *v].map(|o| self.view_chain(o));
            if chains.iter().all(Option::is_none) {
                continue;
            }
            let mut bases = [*q, *k, *v];
            let mut absorbed = Vec::new();
            let mut views = <[ViewChain; 3]>::default();
            for (i, c) in chains.into_iter().enumerate() {
                let Some((base, chain, through)) = c else {
                    continue;
                };
                bases[i] = base;
                views[i] = chain;
                absorbed.push(through);
                if let Operand::Val(b) = base {
                    readers[b] += 1;
                }
            }
            let Some(Kind::Attention {
                q,
                k,
                v,
                views: slot,
                ..
            }) = self.steps[s].as_mut().map(|s| &mut s.kind)
            else {
                continue;
            };
            [*q, *k, *v] = bases;
            *slot = Some(Box::new(views));
            // From the operand inwards: a view step no step reads any more is gone, and
            // so is one read by it alone.
            for through in absorbed {
                for u in through {
                    readers[u] = readers[u].saturating_sub(1);
                    if readers[u] > 0 || self.in_output[u] {
                        break;
                    }
                    self.steps[u] = None;
                }
            }
        }
    }

    /// The value `o` is a view of through view steps (aliases, views, permutes), the
    /// chain of those views and the view steps from `o` inwards, where the chain copies
    /// something (a permute or a strided view) and has a fixed layout. Where the whole
    /// chain has none (a reshape merging dims a permute split apart, which a copy made
    /// contiguous), the longest chain from `o` that has one, from the value inside it.
    fn view_chain(&self, o: Operand) -> Option<(Operand, ViewChain, Vec<V>)> {
        let Operand::Val(mut u) = o else { return None };
        // From `o` inwards: each view step, the value it reads, its view and sizes, and
        // whether it copies.
        let mut found = Vec::new();
        while let Some(step) = self.steps[u].as_ref() {
            let (x, view) = match &step.kind {
                Kind::Alias { src, at, .. } => (*src, at.clone().unwrap_or(ViewOp::Reshape)),
                Kind::View {
                    x: Operand::Val(x),
                    view,
                } => (*x, view.clone()),
                Kind::Permute {
                    x: Operand::Val(x),
                    dims,
                } => (*x, ViewOp::Permute { dims: dims.clone() }),
                _ => break,
            };
            let copies = !matches!(step.kind, Kind::Alias { .. });
            found.push((u, x, (view, step.sizes.clone()), copies));
            u = x;
        }
        (0..found.len()).rev().find_map(|last| {
            let links = &found[..=last];
            let base = links[last].1;
            if !links.iter().any(|l| l.3) || !self.is_f32(base) {
                return None;
            }
            let xs: Vec<usize> = (self.meta(base)?.sizes.iter())
                .map(|s| usize::try_from(s.as_int()?).ok())
                .collect::<Option<_>>()?;
            let chain = ViewChain {
                links: links.iter().rev().map(|l| l.2.clone()).collect(),
                fixed: None,
            };
            let fixed = chain
                .layout(&xs, |s| {
                    s.as_int().ok_or_else(|| format!("{s} is not a number"))
                })
                .ok()?
                .into_owned();
            let through = links.iter().map(|l| l.0).collect();
            let chain = ViewChain {
                fixed: Some(fixed),
                ..chain
            };
            Some((Operand::Val(base), chain, through))
        })
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
