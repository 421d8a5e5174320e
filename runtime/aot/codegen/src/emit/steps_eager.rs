//! Eager fallbacks: a node the plan runs through the registry's eager kernel
//! (`Kind::Fallback`) is generated as the same call — `ferrex::ops::run_eager` of the op,
//! looked up once in `Model::new`, on the step's arguments — its results kept in the
//! workspace (`ws.e{v}`, one storage per output, f32 ones made contiguous) and read
//! from there by later steps; `getitem` of them is free.

use std::fmt::Write;

use ferrex::graph::{Arg, Argument};
use ferrex::ops::rnn::RecurrentSpec;
use ferrex::ops::OpDef;
use ferrex::SymInt;
use ferrex_runtime::plan::{Operand, Step};

use super::literal::f64_lit;
use super::steps::{fail_closure, numel};
use super::{Gen, Loc};
use crate::AotError;

const RT: &str = "::ferrex_aot::rt";

impl Gen<'_> {
    /// `ws.e{v} = rt::fallback(op, args)`: the step of an eager fallback.
    pub(super) fn fallback(
        &mut self,
        step: &Step,
        op: &'static OpDef,
        args: &[Arg],
        code: &mut String,
    ) -> Result<(), AotError> {
        let values = (args.iter())
            .map(|a| self.value(a))
            .collect::<Result<Vec<_>, _>>()?;
        let field = self.ops.len();
        self.ops.push(op.name());
        let call = format!(
            "{RT}::fallback(self.o{field}, vec![{}], &fail)?",
            values.join(", ")
        );
        self.eager_results(step, &call, code);
        self.bind_unbacked(step, code)
    }

    /// `ws.e{v} = rt::recurrent(spec, tensors)`: recurrent layers by the layer kernel
    /// (`Kind::Recurrent`), on the step's input, states and parameters.
    pub(super) fn recurrent(
        &mut self,
        step: &Step,
        spec: &RecurrentSpec,
        args: &[usize],
        code: &mut String,
    ) -> Result<(), AotError> {
        let tensors = (args.iter())
            .map(|&v| self.tensor(v))
            .collect::<Result<Vec<_>, _>>()?;
        let spec = format!(
            "{RT}::RecurrentSpec {{ cell: {RT}::RecurrentCell::{:?}, layers: {}, bidirectional: {}, batch_first: {}, has_biases: {}, projections: {} }}",
            spec.cell, spec.layers, spec.bidirectional, spec.batch_first, spec.has_biases, spec.projections
        );
        let call = format!(
            "{RT}::recurrent(&{spec}, vec![{}], &fail)?",
            tensors.join(", ")
        );
        self.eager_results(step, &call, code);
        Ok(())
    }

    /// `ws.e{v} = call`: a step whose results are storages kept in the workspace.
    fn eager_results(&mut self, step: &Step, call: &str, code: &mut String) {
        self.eager.push(step.out);
        self.loc[step.out] = Some(Loc::Eager(step.out, 0));
        let _ = writeln!(
            code,
            "        {{\n{}\n            ws.e{} = {call};\n        }}",
            fail_closure(step),
            step.out,
        );
    }

    /// After a fallback that reads values from data (`aten::item`'s `u0`, a `nonzero`
    /// length): `ws.u[j]` bound from what it computed, as `Bindings::bind_outputs` binds
    /// it (the first value bound stays).
    fn bind_unbacked(&mut self, step: &Step, code: &mut String) -> Result<(), AotError> {
        let metas = self.plan.metas.get(step.out).cloned().unwrap_or_default();
        let unbacked = |s: &SymInt| match s.expr().as_linear() {
            Some((sym, 1, 0)) if sym.is_unbacked() => Some(sym),
            _ => None,
        };
        for (i, meta) in metas.iter().enumerate() {
            let item = match &meta.sym {
                Some(ferrex::symbolic::SymScalar::Int(v)) => unbacked(v).map(|s| (s, None)),
                _ => None,
            };
            let dims = (meta.sizes.iter().enumerate())
                .filter_map(|(dim, size)| unbacked(size).map(|s| (s, Some(dim))));
            for (sym, dim) in item.into_iter().chain(dims) {
                if self.dims.in_sub {
                    return Err(self.unsupported(format!(
                        "`{}` reads a value from data inside a `cond` / `map` subgraph",
                        step.info.name
                    )));
                }
                let j = match self.dims.unbacked.iter().position(|x| *x == sym) {
                    Some(j) => j,
                    None => {
                        self.dims.unbacked.push(sym);
                        self.dims.unbacked.len() - 1
                    }
                };
                let value = match dim {
                    None => format!("{RT}::item_value(&ws.e{}, {i})", step.out),
                    Some(d) => format!("{RT}::dim_value(&ws.e{}, {i}, {d})", step.out),
                };
                let _ = writeln!(code, "        ws.u[{j}] = ws.u[{j}].or({value}); // {sym}");
            }
        }
        Ok(())
    }

    /// `getitem(src, index)`: no code, the value is output `index` of `src`'s step.
    pub(super) fn getitem(
        &mut self,
        step: &Step,
        src: usize,
        index: usize,
    ) -> Result<(), AotError> {
        let loc = match self.loc.get(src).copied().flatten() {
            Some(Loc::Eager(v, 0)) => Loc::Eager(v, index),
            Some(Loc::Slot(s)) if index == 0 => Loc::Slot(s),
            _ => {
                return Err(self.unsupported(format!(
                    "`{}` reads output {index} of a value that has none",
                    step.info.name
                )))
            }
        };
        self.loc[step.out] = Some(loc);
        Ok(())
    }

    /// An argument of a fallback as an `rt::Value` expression, its sizes bound.
    fn value(&mut self, a: &Arg) -> Result<String, AotError> {
        let a = a.try_map(|n| self.tensor(n.0))?;
        self.value_of(&a)
    }

    /// An argument whose tensors are `rt::Tensor` expressions, as an `rt::Value`
    /// expression: sizes bound as the plan's runner binds them (`Bindings::value`).
    pub(super) fn value_of(&self, a: &Argument<String>) -> Result<String, AotError> {
        let int = |s: &SymInt| format!("{RT}::SymInt::Int({})", self.int_value(s));
        Ok(match a {
            Argument::None => format!("{RT}::Value::None"),
            Argument::Bool(b) => format!("{RT}::Value::Bool({b})"),
            Argument::Int(s) => format!("{RT}::Value::Int({})", int(s)),
            Argument::Float(f) => format!("{RT}::Value::Float({})", f64_lit(*f)),
            Argument::Str(s) => format!("{RT}::Value::Str(String::from({s:?}))"),
            Argument::DType(d) => format!("{RT}::Value::DType({RT}::DType::{d:?})"),
            Argument::IntList(l) => {
                let items: Vec<String> = l.iter().map(int).collect();
                format!("{RT}::Value::IntList(vec![{}])", items.join(", "))
            }
            Argument::FloatList(l) => {
                let items: Vec<String> = l.iter().map(|f| f64_lit(*f)).collect();
                format!("{RT}::Value::FloatList(vec![{}])", items.join(", "))
            }
            Argument::Tensor(t) => format!("{RT}::Value::Tensor({t})"),
            Argument::TensorList(l) => format!("{RT}::Value::TensorList(vec![{}])", l.join(", ")),
            Argument::OptTensorList(l) => {
                let items: Vec<String> = (l.iter())
                    .map(|t| t.as_ref().map_or("None".into(), |t| format!("Some({t})")))
                    .collect();
                format!("{RT}::Value::OptTensorList(vec![{}])", items.join(", "))
            }
            Argument::SymBool(b) => format!(
                "{RT}::Value::SymBool({RT}::SymBool {{ lhs: {}, op: {RT}::CmpOp::{:?}, rhs: {} }})",
                int(&b.lhs),
                b.op,
                int(&b.rhs)
            ),
            other => {
                return Err(self.unsupported(format!(
                    "an eager fallback's argument {other:?} (a SymInt node not inlined)"
                )))
            }
        })
    }

    /// Value `v` as an `rt::Tensor` expression (a copy of f32 data; a stored eager
    /// result or a constant shared: the same weight storage on every call, so the
    /// kernels' packed-weight cache finds it).
    pub(super) fn tensor(&mut self, v: usize) -> Result<String, AotError> {
        if let Some(Loc::Const(c)) = self.loc.get(v).copied().flatten() {
            if self.const_meta(c).map(|m| m.0) == Some(ferrex::DType::F32) {
                let field = self.const_field(c)?;
                self.const_tensors.insert(field);
                return Ok(format!("self.t{field}.clone()"));
            }
        }
        if let Some(Loc::Eager(e, i)) = self.loc.get(v).copied().flatten() {
            return Ok(format!("{RT}::eager_tensor(&ws.e{e}, {i})?"));
        }
        if let Some(Loc::Input(k)) = self.loc.get(v).copied().flatten() {
            let i = &self.inputs[k];
            return Ok(format!(
                "{RT}::tensor_of_{}({}, &{})?",
                i.dtype,
                i.ident,
                self.shape(&i.sizes)
            ));
        }
        let r = self.read(Operand::Val(v))?;
        Ok(format!(
            "{RT}::tensor_of_f32({}, &{})?",
            r.expr,
            self.shape(&r.sizes)
        ))
    }

    /// A read of an eager result as f32 data, for the planned steps.
    pub(super) fn eager_read(
        &self,
        e: usize,
        i: usize,
        v: usize,
    ) -> Result<super::steps::Read, AotError> {
        let meta = self.plan.metas.get(v).and_then(|m| m.first());
        if let Some(m) = meta.filter(|m| m.dtype != ferrex::DType::F32) {
            // Bool or integer data (a `where` condition, a mask), read by a fused step.
            return Ok(super::steps::Read {
                expr: format!("&{RT}::eager_as_f32(&ws.e{e}, {i})?[..]"),
                sizes: m.sizes.clone(),
                slot: None,
            });
        }
        let sizes = self.value_sizes(v)?;
        let _ = numel(&sizes);
        Ok(super::steps::Read {
            expr: format!("{RT}::eager_f32(&ws.e{e}, {i})?"),
            sizes,
            slot: None,
        })
    }
}
