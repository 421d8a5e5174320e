//! Constant folding and weight prepacking: a call whose inputs are all constants is
//! computed once at compile time; constant GEMM weights are stored in the layout the
//! kernels read. In a structure-only plan (no constant data) each records what it would
//! compute — a folded value's meta is its node's, a packed weight's panels are empty.

use ferrex::graph::Arg;
use ferrex::ops::{run_eager, OpDef, Value};
use ferrex::symbolic::SymInt;
use ferrex::tensor::{view_to_vec, DType, Storage, Tensor};

use super::{Builder, ConstOrigin, GemmB, Known, PackSource, Place, V};
/// Ops that must not be computed at compile time: random ops (the op's own flag,
/// `OpDef::nondeterministic`, which dead-code elimination reads too).
fn nondeterministic(op: &OpDef) -> bool {
    op.nondeterministic
}

/// A contiguous f32 copy of a constant in logical order, with its shape.
pub(super) fn f32_const(s: &Storage) -> Option<(Vec<f32>, Vec<usize>)> {
    match s {
        Storage::F32(a) => Some((view_to_vec(&a.view()), a.shape().to_vec())),
        _ => None,
    }
}

impl Builder<'_> {
    /// Tries to compute a call at compile time from constants.
    pub(super) fn try_fold(&mut self, v: V, op: &'static OpDef, args: &[Arg]) -> bool {
        // Nodes that define an unbacked symbol (`aten::item`) or return nothing (run-time
        // assertions) run each call: the value binds a symbol, the effect is the point.
        let meta = &self.graph.nodes[v].meta;
        if nondeterministic(op) || meta.is_empty() || meta.iter().any(|m| m.sym.is_some()) {
            return false;
        }
        if !self.with_data {
            return self.fold_meta(v, args);
        }
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            let tensor = |id: &ferrex::graph::NodeId| -> Option<Tensor> {
                self.const_of[id.0].map(|c| Tensor::from_storage(self.plan.consts[c].clone()))
            };
            let value = match a {
                Arg::Tensor(n) => tensor(n).map(Value::Tensor),
                Arg::TensorList(ns) => ns
                    .iter()
                    .map(tensor)
                    .collect::<Option<_>>()
                    .map(Value::TensorList),
                Arg::OptTensorList(ns) => ns
                    .iter()
                    .map(|n| match n {
                        Some(n) => tensor(n).map(Some),
                        None => Some(None),
                    })
                    .collect::<Option<_>>()
                    .map(Value::OptTensorList),
                Arg::None => Some(Value::None),
                Arg::Bool(b) => Some(Value::Bool(*b)),
                Arg::Int(i) => i.as_int().map(|i| Value::Int(SymInt::Int(i))),
                Arg::Float(f) => Some(Value::Float(*f)),
                Arg::Str(s) => Some(Value::Str(s.clone())),
                Arg::DType(d) => Some(Value::DType(*d)),
                Arg::IntList(l) => l
                    .iter()
                    .map(|i| i.as_int().map(SymInt::Int))
                    .collect::<Option<_>>()
                    .map(Value::IntList),
                Arg::FloatList(l) => Some(Value::FloatList(l.clone())),
                // Symbolic values depend on the inputs: not folded.
                Arg::SymBool(_) | Arg::Sym(_) | Arg::SymInts(_) => None,
            };
            match value {
                Some(v) => values.push(v),
                None => return false,
            }
        }
        let Ok(out) = run_eager(op, &values) else {
            return false;
        };
        let Ok(storages) = out
            .iter()
            .map(|t| t.try_storage())
            .collect::<Result<Vec<_>, _>>()
        else {
            return false;
        };
        let single = self.graph.nodes[v].meta.len() == 1 && storages.len() == 1;
        self.add_folded(v, single, storages.into_iter().map(Known::Data).collect());
        true
    }

    /// [`Self::try_fold`] without data: the node's metas stand for what it would compute
    /// (the loader re-derived them from the op's meta function). Every argument must be
    /// one a fold with data accepts and every size static; an eager kernel that would
    /// fail on the data is not foreseen (the value then fails where it is computed from
    /// the weights, in the generated `Model::new`, instead of in each call).
    fn fold_meta(&mut self, v: V, args: &[Arg]) -> bool {
        let foldable = |a: &Arg| match a {
            Arg::Int(i) => i.as_int().is_some(),
            Arg::IntList(l) => l.iter().all(|i| i.as_int().is_some()),
            Arg::SymBool(_) | Arg::Sym(_) | Arg::SymInts(_) => false,
            _ => true,
        };
        let metas = &self.graph.nodes[v].meta;
        let static_sizes = metas.iter().all(|m| m.static_shape().is_some());
        if !args.iter().all(foldable) || !static_sizes {
            return false;
        }
        let single = metas.len() == 1;
        let known = metas.iter().cloned().map(Known::Meta).collect();
        self.add_folded(v, single, known);
        true
    }

    /// Node `v`'s outputs as constants of the plan.
    fn add_folded(&mut self, v: V, single: bool, outputs: Vec<Known>) {
        if single {
            let c = self.add_const_from(
                (outputs.into_iter().next())
                    .unwrap_or_else(|| Known::Data(Storage::full(&[], 0.0, DType::F32))),
                ConstOrigin::Folded { node: v, output: 0 },
            );
            self.const_of[v] = Some(c);
            self.plan.const_values.push((v, c));
            self.place[v] = Some(Place::Storage);
        } else {
            let cs: Vec<usize> = (outputs.into_iter().enumerate())
                .map(|(output, s)| self.add_const_from(s, ConstOrigin::Folded { node: v, output }))
                .collect();
            self.plan.const_multi.push((v, cs));
            self.place[v] = Some(Place::Multi);
        }
    }

    /// Constant `src`'s elements in logical order under `shape` (same count), as a new
    /// constant: a convolution's `[c_out, c_in * kh * kw]` weight, its bias.
    pub(super) fn reshaped_const(&mut self, src: usize, shape: &[usize]) -> Option<usize> {
        let known = match self.with_data {
            true => {
                let (data, _) = f32_const(self.plan.consts.get(src)?)?;
                Known::Data(Storage::from_vec(shape, data)?)
            }
            false => Known::Meta(ferrex::tensor::TensorMeta::from_shape(DType::F32, shape)),
        };
        Some(self.add_const_from(known, ConstOrigin::Reshaped { src }))
    }

    /// A constant `[k, n]` matrix packed for the own GEMM (`mm`, `addmm`).
    pub(super) fn pack_bt(&mut self, b: usize) -> Option<GemmB> {
        self.pack(b, false)
    }

    /// A constant `[n, k]` weight used transposed (`linear`).
    pub(super) fn pack_weight(&mut self, w: usize) -> Option<GemmB> {
        self.pack(w, true)
    }

    fn pack(&mut self, c: usize, transposed: bool) -> Option<GemmB> {
        if let Some(b) = self.packed.get(&(c, transposed)) {
            return Some(b.clone());
        }
        let b = self.pack_new(c, transposed)?;
        self.packed.insert((c, transposed), b.clone());
        Some(b)
    }

    fn pack_new(&mut self, c: usize, transposed: bool) -> Option<GemmB> {
        let source = PackSource {
            konst: c,
            transposed,
        };
        if !self.with_data {
            let rank = self.f32_shape(c)?.len();
            let packed = ferrex_kernels::PackedB::empty();
            return (rank == 2).then(|| GemmB::Packed(std::sync::Arc::new(packed), source));
        }
        let Storage::F32(arr) = &self.plan.consts[c] else {
            return None;
        };
        if arr.ndim() != 2 {
            return None;
        }
        let data: Vec<f32> = view_to_vec(&arr.view());
        let shape = [arr.shape()[0], arr.shape()[1]];
        let packed = crate::exec::pack(&data, shape, transposed).ok()?;
        Some(GemmB::Packed(std::sync::Arc::new(packed), source))
    }
}
