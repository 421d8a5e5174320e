//! Python calls a classmethod through the type of a value (`type(a).func(x)`); Rust
//! calls an associated function through a type parameter (`T::func(x)`, here with
//! `T = A` chosen by the model's type). Strict export cannot see through the trait
//! (which impl runs is decided by the type checker, after the macro), so it rejects the
//! call (see `trait_associated_fn_strict`); `#[export_module(strict = false)]` traces
//! the call like any Rust code, and the graph is `x + 1`.

use std::marker::PhantomData;

use ferrex::prelude::*;

/// A family of functions, chosen by type.
pub trait Func {
    fn func(x: &Tensor) -> Tensor;
}

pub struct A;

impl Func for A {
    fn func(x: &Tensor) -> Tensor {
        1 + x
    }
}

#[export_module]
pub struct TypeReflectionMethod<T: Func> {
    #[config]
    kind: PhantomData<T>,
}

#[export_module(strict = false)]
impl<T: Func> TypeReflectionMethod<T> {
    fn forward(&self, x: &Tensor) -> Tensor {
        T::func(x)
    }
}

fn model() -> TypeReflectionMethod<A> {
    TypeReflectionMethod { kind: PhantomData }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 4]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&model(), example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "type_reflection_method",
        tags: &["python.builtin", "rust.trait"],
        verdict: Verdict::Supported,
        file: include_str!("type_reflection_method.rs"),
        code: include_str!("type_reflection_method.rs"),
        run,
    }
}
