//! Non-strict export (`#[export_module(strict = false)]`): the tutorial's four graph-break
//! cases, traced instead of rejected at compile time.
//!
//! - Bad1 (a branch on tensor data) fails at export time with the file, line and code;
//! - Bad2 (a write through `.data()`) is recorded as `index_put_`, functionalized into a
//!   USER_INPUT_MUTATION output, and the exported program writes into the caller's input;
//! - Bad3 (`x.id()`) is specialised as a constant;
//! - Bad4 (a caught panic) is traced through.

use ferrex::graph::{Arg, NodeKind};
use ferrex::program::OutputKind;
use ferrex::{ExportError, Tensor};
use ferrex_tests_non_strict::*;

/// The models, in a module so that `#[export_module]` sees ordinary items.
mod ferrex_tests_non_strict {
    use std::cell::Cell;

    use ferrex::prelude::*;

    #[export_module]
    pub struct Bad1 {}

    #[export_module(strict = false)]
    impl Bad1 {
        pub fn forward(&self, x: &Tensor) -> Tensor {
            if x.sum().item::<f32>().unwrap() > 0.0 {
                return x.sin();
            }
            x.cos()
        }
    }

    #[export_module]
    pub struct Bad2 {}

    #[export_module(strict = false)]
    impl Bad2 {
        pub fn forward(&self, x: &Tensor) -> Tensor {
            x.data().set_item_(&[0, 0], 3.0);
            x.clone()
        }
    }

    #[export_module]
    pub struct Bad3 {}

    #[export_module(strict = false)]
    impl Bad3 {
        pub fn forward(&self, x: &Tensor) -> Tensor {
            let x = x + 1.0;
            &x + x.id() as f64
        }
    }

    #[export_module]
    pub struct Bad4 {}

    #[export_module(strict = false)]
    impl Bad4 {
        pub fn forward(&self, x: &Tensor) -> Tensor {
            let mut x = x.clone();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                x = &x + 1.0;
                panic!("bad");
            }));
            if result.is_err() {
                x = &x + 2.0;
            }
            x
        }
    }

    /// Reads a whole tensor into a `Vec`.
    #[export_module]
    pub struct ToVec {}

    #[export_module(strict = false)]
    impl ToVec {
        pub fn forward(&self, x: &Tensor) -> Tensor {
            let v = x.to_vec::<f32>().unwrap_or_default();
            x * v.len() as f64
        }
    }

    /// An early return on a config value (`?` on an `Option` field) and a counter.
    #[export_module]
    pub struct Config {
        pub scale: Option<f64>,
        pub calls: Cell<u32>,
    }

    #[export_module(strict = false)]
    impl Config {
        pub fn forward(&self, x: &Tensor) -> Tensor {
            self.calls.set(self.calls.get() + 1);
            let y = self.scaled(x).unwrap_or_else(|| x.relu());
            y + self.calls.get() as f64
        }

        fn scaled(&self, x: &Tensor) -> Option<Tensor> {
            let s = self.scale?;
            Some(x * s)
        }
    }
}

/// The 1-based line of this file that contains `needle`.
fn line_of(needle: &str) -> u32 {
    include_str!("non_strict.rs")
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i as u32 + 1)
        .unwrap_or(0)
}

#[test]
fn bad1_data_branch_fails_at_export_with_file_line_and_code() {
    let err = ferrex::export(&Bad1 {}, (Tensor::randn([3, 3]),)).unwrap_err();
    let line = line_of("if x.sum().item::<f32>().unwrap() > 0.0 {");
    match &err {
        ExportError::DataDependent {
            access,
            location,
            code,
        } => {
            assert_eq!(*access, "item");
            assert!(location.file.ends_with("non_strict.rs"), "{location}");
            assert_eq!(location.line, line);
            assert_eq!(
                code.0.as_deref(),
                Some("if x.sum().item::<f32>().unwrap() > 0.0 {")
            );
        }
        other => panic!("expected a data-dependence error, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&format!("non_strict.rs:{line}")), "{msg}");
    assert!(
        msg.contains("code: if x.sum().item::<f32>().unwrap() > 0.0 {"),
        "{msg}"
    );
}

#[test]
fn reading_data_fails_at_export_with_file_line_and_code() {
    let err = ferrex::export(&ToVec {}, (Tensor::randn([2, 2]),)).unwrap_err();
    let line = line_of("let v = x.to_vec::<f32>().unwrap_or_default();");
    match &err {
        ExportError::DataDependent {
            access,
            location,
            code,
        } => {
            assert_eq!(*access, "to_vec");
            assert_eq!(location.line, line);
            assert_eq!(
                code.0.as_deref(),
                Some("let v = x.to_vec::<f32>().unwrap_or_default();")
            );
        }
        other => panic!("expected a data-dependence error, got {other:?}"),
    }
}

#[test]
fn bad2_write_through_data_is_a_user_input_mutation() {
    let ep = ferrex::export(&Bad2 {}, (Tensor::randn([3, 3]),)).expect("exports");
    let targets = ep.op_targets();
    assert_eq!(
        targets.last().map(String::as_str),
        Some("aten::index_put.default"),
        "{ep}"
    );
    let outputs = &ep.graph_signature().output_specs;
    assert_eq!(outputs.len(), 2, "{ep}");
    assert_eq!(outputs[0].kind, OutputKind::UserInputMutation);
    assert_eq!(outputs[0].target.as_deref(), Some("x"));
    assert_eq!(outputs[1].kind, OutputKind::UserOutput);

    // Like PyTorch: the program returns the written tensor and writes into the input.
    let input = Tensor::ones([3, 3]);
    let out = ep.module().call((input.clone(),)).expect("runs");
    let want = [3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
    assert_eq!(out[0].to_vec::<f32>().unwrap(), want);
    assert_eq!(input.to_vec::<f32>().unwrap(), want);
}

#[test]
fn bad2_eager_forward_writes_the_element() {
    let x = Tensor::zeros([2, 2]);
    let y = Bad2 {}.forward(&x);
    assert_eq!(y.to_vec::<f32>().unwrap(), [3.0, 0.0, 0.0, 0.0]);
    assert_eq!(x.to_vec::<f32>().unwrap(), [3.0, 0.0, 0.0, 0.0]);
}

#[test]
fn bad3_id_is_specialised_as_a_constant() {
    let ep = ferrex::export(&Bad3 {}, (Tensor::randn([3, 3]),)).expect("exports");
    assert_eq!(ep.op_targets(), ["aten::add.Tensor", "aten::add.Tensor"]);
    let constant = ep
        .graph()
        .nodes
        .iter()
        .rev()
        .find_map(|n| match &n.kind {
            NodeKind::Call { args, .. } => match args.get(1) {
                Some(Arg::Float(v)) => Some(*v),
                _ => None,
            },
            _ => None,
        })
        .expect("the second add takes a constant");
    assert!(constant > 1.0, "an address: {constant}");
    // Every run adds the same constant, whatever tensor is passed.
    let a = ep.module().call((Tensor::ones([3, 3]),)).expect("runs");
    let b = ep.module().call((Tensor::ones([3, 3]),)).expect("runs");
    assert_eq!(a[0].to_vec::<f32>().unwrap(), b[0].to_vec::<f32>().unwrap());
    assert_eq!(a[0].to_vec::<f32>().unwrap()[0], (2.0 + constant) as f32);
}

#[test]
fn bad4_caught_panic_is_traced_through() {
    let ep = ferrex::export(&Bad4 {}, (Tensor::randn([3, 3]),)).expect("exports");
    assert_eq!(ep.op_targets(), ["aten::add.Tensor", "aten::add.Tensor"]);
    let out = ep.module().call((Tensor::ones([3, 3]),)).expect("runs");
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![4.0; 9]);
}

#[test]
fn config_control_flow_and_counters_are_specialised() {
    use std::cell::Cell;
    let with_scale = Config {
        scale: Some(2.0),
        calls: Cell::new(0),
    };
    let ep = ferrex::export(&with_scale, (Tensor::randn([2, 2]),)).expect("exports");
    assert_eq!(ep.op_targets(), ["aten::mul.Tensor", "aten::add.Tensor"]);
    let out = ep.module().call((Tensor::ones([2, 2]),)).expect("runs");
    // 1 * 2 + (the counter while tracing: 1)
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![3.0; 4]);

    let without = Config {
        scale: None,
        calls: Cell::new(0),
    };
    let ep = ferrex::export(&without, (Tensor::randn([2, 2]),)).expect("exports");
    assert_eq!(ep.op_targets(), ["aten::relu.default", "aten::add.Tensor"]);
}
