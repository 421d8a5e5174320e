//! Configuration fields — a `String`, an enum and an integer — are not tensors: they
//! are specialised into the graph while exporting. The string comparison and the
//! `match` on the enum are decided then, and the integer becomes the constant of the
//! `add`: the graph is `x * x + 4`.

use ferrex::prelude::*;

/// What the model is configured to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Animal {
    Cow,
    #[allow(dead_code)] // a configuration this case does not export
    Pig,
}

// Marked so that strict export reads `sound` (a method of a type it does not know is
// opaque: it could read state the graph would freeze).
#[ferrex::export_fn]
impl Animal {
    pub fn sound(self) -> &'static str {
        match self {
            Animal::Cow => "moo",
            Animal::Pig => "oink",
        }
    }
}

#[export_module]
pub struct SpecializedAttribute {
    a: String,
    animal: Animal,
    b: i64,
}

#[export_module]
impl SpecializedAttribute {
    fn forward(&self, x: &Tensor) -> Tensor {
        if self.a != Animal::Cow.sound() {
            return x.neg();
        }
        match self.animal {
            Animal::Cow => x * x + self.b,
            Animal::Pig => x * self.b,
        }
    }
}

fn model() -> SpecializedAttribute {
    SpecializedAttribute {
        a: "moo".to_string(),
        animal: Animal::Cow,
        b: 4,
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&model(), example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "specialized_attribute",
        tags: &["rust.enum"],
        verdict: Verdict::Supported,
        file: include_str!("specialized_attribute.rs"),
        code: include_str!("specialized_attribute.rs"),
        run,
    }
}
