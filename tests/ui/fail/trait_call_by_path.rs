// A method of a trait of this file called by path on a tensor (`Peek::peek(x)`) or used as
// a value (`map(Peek::peek)`): which impl runs is the compiler's choice, and strict export
// reads no trait impl. One ferrex error at each use, not rustc's "expected a type, found a
// trait" (the file of the macro call says `Peek` is a trait).
use ferrex::prelude::*;

trait Peek {
    fn peek(&self) -> Tensor;
}

impl Peek for Tensor {
    fn peek(&self) -> Tensor {
        self.relu()
    }
}

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor, xs: Vec<Tensor>) -> Tensor {
        let ys: Vec<Tensor> = xs.iter().map(Peek::peek).collect();
        Peek::peek(x) + &ys[0]
    }
}

fn main() {}
