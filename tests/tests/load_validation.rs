//! Loaded programs are validated before they run (`program::validate`): each damaged
//! program below was accepted before, and is now a `LoadError` naming what is wrong.

use ferrex::cond;
use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes, Exporter, LoadError};
use serde_json::{json, Value};

/// Counts its calls in a buffer; a linear layer and a guard between two dims.
#[export_module]
struct Counted {
    lin: nn::Linear,
    #[buffer]
    calls: Tensor,
}

#[export_module]
impl Counted {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        self.calls.add_(1.0);
        let h = self.lin.forward(x).relu();
        if x.size(0) <= y.size(0) {
            h + 1.0
        } else {
            h - 1.0
        }
    }
}

#[export_module]
struct Branchy {}

#[export_module]
impl Branchy {
    fn forward(&self, x: &Tensor) -> Tensor {
        cond!(x.sum().gt(0.0), |x| x.sin(), |x| x.cos(), [x])
    }
}

fn counted_archive() -> Vec<u8> {
    let m = Counted {
        lin: nn::Linear::new(4, 3),
        calls: Tensor::zeros([1]),
    };
    let shapes = DynamicShapes::new()
        .input("x", [(0, Dim::new("batch").max(64))])
        .input("y", [(0, Dim::new("other"))]);
    let ep = Exporter::new(&m, (Tensor::randn([2, 4]), Tensor::randn([5, 4])))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    ferrex::serialize::pt2::to_bytes(&ep, "counted").unwrap()
}

fn branchy_archive() -> Vec<u8> {
    let ep = ferrex::export(&Branchy {}, (Tensor::randn([3, 3]),)).unwrap();
    ferrex::serialize::pt2::to_bytes(&ep, "branchy").unwrap()
}

/// The archive with its model JSON changed by `edit`.
fn edited(archive: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut entries = ferrex::serialize::pt2::read_entries(archive).unwrap();
    let (_, json) = entries
        .iter_mut()
        .find(|(name, _)| name.ends_with("models/model.json"))
        .unwrap();
    let mut value: Value = serde_json::from_slice(json).unwrap();
    edit(&mut value);
    *json = serde_json::to_vec(&value).unwrap();
    ferrex::serialize::pt2::write_stored(&entries).unwrap()
}

fn load_error(bytes: &[u8]) -> String {
    match ferrex::serialize::pt2::from_bytes(bytes, "p.pt2") {
        Ok(_) => panic!("the damaged program loaded"),
        Err(e @ LoadError::Program { .. }) => e.to_string(),
        Err(e) => panic!("another error: {e}"),
    }
}

fn graph(v: &mut Value) -> &mut Value {
    &mut v["graph_module"]["graph"]
}

fn node<'v>(graph: &'v mut Value, name: &str) -> &'v mut Value {
    graph["nodes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|n| n["name"] == name)
        .unwrap()
}

/// A size of `tensor_values[name]` replaced by `expr` (an `srepr`).
fn set_size_expr(v: &mut Value, name: &str, dim: usize, expr: &str) {
    graph(v)["tensor_values"][name]["sizes"][dim] =
        json!({"as_expr": {"expr_str": expr, "hint": {"as_int": 2}}});
}

/// The `ferrex` extras (guards, symbols), edited as JSON.
fn edit_extras(v: &mut Value, edit: impl FnOnce(&mut Value)) {
    let meta = &mut v["graph_module"]["metadata"]["ferrex"];
    let mut extras: Value = serde_json::from_str(meta.as_str().unwrap()).unwrap();
    edit(&mut extras);
    *meta = Value::String(extras.to_string());
}

const PREFIX: &str = "`p.pt2` is not a valid ferrex program: models/model.json: ";

#[test]
fn the_unedited_programs_load_and_run() {
    let ep = ferrex::serialize::pt2::from_bytes(&counted_archive(), "p.pt2").unwrap();
    let out = ep
        .module()
        .call((Tensor::ones([2, 4]), Tensor::ones([3, 4])))
        .unwrap();
    assert_eq!(out[0].shape(), [2, 3]);
    let ep = ferrex::serialize::pt2::from_bytes(&branchy_archive(), "p.pt2").unwrap();
    let out = ferrex_runtime::compile(&ep)
        .unwrap()
        .call((Tensor::zeros([3, 3]),))
        .unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![1.0; 9]);
}

#[test]
fn an_output_spec_naming_a_missing_value() {
    let bytes = edited(&counted_archive(), |v| {
        v["graph_module"]["signature"]["output_specs"][1]["user_output"]["arg"]["as_tensor"]
            ["name"] = json!("nothing");
    });
    assert_eq!(
        load_error(&bytes),
        format!("{PREFIX}output spec 1 names `nothing`, but the graph's output 1 is `add_1`")
    );
}

#[test]
fn extra_graph_outputs() {
    let bytes = edited(&counted_archive(), |v| {
        graph(v)["outputs"]
            .as_array_mut()
            .unwrap()
            .push(json!({"as_tensor": {"name": "relu"}}));
    });
    assert_eq!(
        load_error(&bytes),
        format!("{PREFIX}the graph has 3 outputs but the signature lists 2")
    );
}

#[test]
fn a_cond_branch_with_mismatched_metadata() {
    // Both branches take and return f32[3, 4] (so they agree with each other and with
    // the node's recorded outputs), but the node passes them its f32[3, 3] operand.
    let bytes = edited(&branchy_archive(), |v| {
        let g = graph(v);
        for name in ["cond", "getitem"] {
            if let Some(t) = g["tensor_values"].get_mut(name) {
                t["sizes"][1] = json!({"as_int": 4});
            }
        }
        let cond = node(g, "cond");
        for branch in [1, 2] {
            let sub = &mut cond["inputs"][branch]["arg"]["as_graph"]["graph"]["tensor_values"];
            for (_, t) in sub.as_object_mut().unwrap() {
                t["sizes"][1] = json!({"as_int": 4});
            }
        }
    });
    assert_eq!(
        load_error(&bytes),
        format!("{PREFIX}in true_graph_0: input `x` is f32[3, 4], but `cond` passes f32[3, 3]")
    );
}

#[test]
fn an_unknown_symbol_in_a_guard() {
    let bytes = edited(&counted_archive(), |v| {
        edit_extras(v, |e| e["guards"][0]["rhs"] = json!("s7 + 1"));
    });
    assert_eq!(
        load_error(&bytes),
        format!(
            "{PREFIX}the guard `s0 <= s7 + 1` names the symbol s7, which no input size defines"
        )
    );
}

#[test]
fn a_range_whose_minimum_is_above_its_maximum() {
    let bytes = edited(&counted_archive(), |v| {
        v["range_constraints"]["s0"] = json!({"min_val": 10, "max_val": 2});
    });
    assert_eq!(
        load_error(&bytes),
        format!(
            "{PREFIX}the range constraint of s0 is VR[10, 2]: its minimum is above its maximum"
        )
    );
}

#[test]
fn a_buffer_mutation_retargeted_to_a_parameter() {
    let bytes = edited(&counted_archive(), |v| {
        v["graph_module"]["signature"]["output_specs"][0]["buffer_mutation"]["buffer_name"] =
            json!("lin.weight");
    });
    assert_eq!(
        load_error(&bytes),
        format!(
            "{PREFIX}a BUFFER_MUTATION output targets `lin.weight`, which is not a BUFFER \
             (it is a PARAMETER)"
        )
    );
}

#[test]
fn node_metadata_that_disagrees_with_its_op() {
    let bytes = edited(&counted_archive(), |v| {
        graph(v)["tensor_values"]["relu"]["sizes"][1] = json!({"as_int": 5});
    });
    assert_eq!(
        load_error(&bytes),
        format!(
            "{PREFIX}node `relu`: aten::relu.default gives f32[s0, 3], but the file records \
             f32[s0, 5]"
        )
    );
    // A dtype, and a symbolic size the op does not give.
    let bytes = edited(&counted_archive(), |v| {
        graph(v)["tensor_values"]["linear"]["dtype"] = json!(8); // float64
    });
    assert_eq!(
        load_error(&bytes),
        format!(
            "{PREFIX}node `linear`: aten::linear.default gives f32[s0, 3], but the file \
             records f64[s0, 3]"
        )
    );
    let bytes = edited(&counted_archive(), |v| {
        let s1 = "Symbol('s1', positive=True, integer=True)";
        set_size_expr(v, "add_1", 0, s1);
    });
    assert_eq!(
        load_error(&bytes),
        format!(
            "{PREFIX}node `add_1`: aten::add.Tensor gives f32[s0, 3], but the file records \
             f32[s1, 3]"
        )
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = |n: usize| {
        format!(
            "{}Symbol('s0', integer=True){}",
            "Add(Integer(1), ".repeat(n),
            ")".repeat(n)
        )
    };
    let start = "Add(Integer(1), ".repeat(5);
    let bytes = edited(&counted_archive(), |v| {
        set_size_expr(v, "relu", 0, &deep(30_000))
    });
    assert_eq!(
        load_error(&bytes),
        format!(
            "{PREFIX}graph › tensor_values › relu: `{start}… (510026 bytes)`: the expression \
             is longer than 16384 bytes"
        )
    );
    let bytes = edited(&counted_archive(), |v| {
        set_size_expr(v, "relu", 0, &deep(100))
    });
    assert_eq!(
        load_error(&bytes),
        format!(
            "{PREFIX}graph › tensor_values › relu: `{start}… (1726 bytes)`: the expression \
             nests too deeply at character 1020"
        )
    );
}

#[test]
fn a_huge_product_of_sums_is_refused_quickly() {
    let sums: Vec<String> = (0..60)
        .map(|i| format!("Add(Symbol('s{}'), Symbol('s{}'))", 2 * i, 2 * i + 1))
        .collect();
    let product = format!("Mul({})", sums.join(", "));
    assert_eq!(product.len(), 2113);
    let bytes = edited(&counted_archive(), |v| {
        set_size_expr(v, "relu", 0, &product)
    });
    let started = std::time::Instant::now();
    let err = load_error(&bytes);
    assert!(started.elapsed().as_secs() < 2);
    assert_eq!(
        err,
        format!(
            "{PREFIX}graph › tensor_values › relu: `Mul(Add(Symbol('s0'), Symbol('s1')), \
             Add(Symbol('s2'), Symbol('s3')), Add(Symbol… (2113 bytes)`: the product has more \
             than 256 terms once expanded"
        )
    );
}

#[test]
fn a_parameter_missing_from_the_state() {
    let bytes = edited(&counted_archive(), |v| {
        v["graph_module"]["signature"]["input_specs"][0]["parameter"]["parameter_name"] =
            json!("lin.nothing");
    });
    assert_eq!(
        load_error(&bytes),
        format!(
            "{PREFIX}input `p_lin_weight` is the PARAMETER `lin.nothing`, which the program's \
             parameters do not hold"
        )
    );
}

#[test]
fn a_buffer_mutation_of_another_shape() {
    let bytes = edited(&counted_archive(), |v| {
        graph(v)["tensor_values"]["add"]["sizes"][0] = json!({"as_int": 2});
    });
    assert_eq!(
        load_error(&bytes),
        format!("{PREFIX}the BUFFER_MUTATION of `calls` writes f32[2], but `calls` is f32[1]")
    );
}

#[test]
fn an_example_value_no_input_gives() {
    let bytes = edited(&counted_archive(), |v| {
        graph(v)["tensor_values"]["relu"]["sizes"][0]["as_expr"]["hint"]["as_int"] =
            json!(1u64 << 31);
    });
    assert_eq!(
        load_error(&bytes),
        format!(
            "{PREFIX}node `relu` records the example value 2147483648 for the size s0, which \
             is 2 at the inputs' example values"
        )
    );
}
