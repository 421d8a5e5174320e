// ExportDB `trait_associated_fn_strict`: `type_reflection_method` in strict mode — an
// associated function called through a type parameter.
use std::marker::PhantomData;

use ferrex::prelude::*;

trait Func {
    fn func(x: &Tensor) -> Tensor;
}

struct A;

impl Func for A {
    fn func(x: &Tensor) -> Tensor {
        1 + x
    }
}

#[export_module]
struct TypeReflectionMethod<T: Func> {
    #[config]
    kind: PhantomData<T>,
}

#[export_module]
impl<T: Func> TypeReflectionMethod<T> {
    fn forward(&self, x: &Tensor) -> Tensor {
        T::func(x)
    }
}

fn main() {
    let _ = TypeReflectionMethod::<A> { kind: PhantomData };
}
