//! Every case of the catalogue, run: a supported case exports and its program matches
//! the eager model within 1e-5 (outputs and mutated inputs), with the ATen ops PyTorch
//! 2.15 records where its reference program is informative; a case rejected at export
//! time gives its exact error; a case rejected at compile time carries its trybuild
//! diagnostic (checked against the compiler by `tests/ui.rs`).

use std::collections::BTreeMap;

use expect_test::expect;
use ferrex::program::OutputKind;
use ferrex::Tensor;
use ferrex_exportdb::check::TOLERANCE;
use ferrex_exportdb::{case, cases, Case, Exported, Failure, Rejection, Verdict};

/// PyTorch's 36 ExportDB cases with their tags (from
/// `reference/pytorch-2.15/exportdb_results.txt`).
const PYTORCH_CASES: [(&str, &[&str]); 36] = [
    ("assume_constant_result", &["torch.escape-hatch"]),
    ("autograd_function", &[]),
    ("class_method", &[]),
    (
        "cond_branch_class_method",
        &["torch.cond", "torch.dynamic-shape"],
    ),
    (
        "cond_branch_nested_function",
        &["torch.cond", "torch.dynamic-shape"],
    ),
    (
        "cond_branch_nonlocal_variables",
        &["torch.cond", "torch.dynamic-shape"],
    ),
    (
        "cond_closed_over_variable",
        &["python.closure", "torch.cond"],
    ),
    ("cond_operands", &["torch.cond", "torch.dynamic-shape"]),
    ("cond_predicate", &["torch.cond", "torch.dynamic-shape"]),
    (
        "constrain_as_size_example",
        &["torch.dynamic-value", "torch.escape-hatch"],
    ),
    (
        "constrain_as_value_example",
        &["torch.dynamic-value", "torch.escape-hatch"],
    ),
    ("decorator", &[]),
    ("dictionary", &["python.data-structure"]),
    ("dynamic_shape_assert", &["python.assert"]),
    ("dynamic_shape_constructor", &["torch.dynamic-shape"]),
    (
        "dynamic_shape_if_guard",
        &["python.control-flow", "torch.dynamic-shape"],
    ),
    ("dynamic_shape_map", &["torch.dynamic-shape", "torch.map"]),
    (
        "dynamic_shape_round",
        &["python.builtin", "torch.dynamic-shape"],
    ),
    ("dynamic_shape_slicing", &["torch.dynamic-shape"]),
    ("dynamic_shape_view", &["torch.dynamic-shape"]),
    ("fn_with_kwargs", &["python.data-structure"]),
    (
        "list_contains",
        &[
            "python.assert",
            "python.data-structure",
            "torch.dynamic-shape",
        ],
    ),
    (
        "list_unpack",
        &["python.control-flow", "python.data-structure"],
    ),
    ("model_attr_mutation", &["python.object-model"]),
    ("nested_function", &["python.closure"]),
    ("null_context_manager", &["python.context-manager"]),
    ("optional_input", &["python.object-model"]),
    ("pytree_flatten", &[]),
    ("scalar_output", &["torch.dynamic-shape"]),
    ("specialized_attribute", &[]),
    ("static_for_loop", &["python.control-flow"]),
    ("static_if", &["python.control-flow"]),
    ("tensor_setattr", &["python.builtin"]),
    ("type_reflection_method", &["python.builtin"]),
    ("unsupported_operator", &["torch.operator"]),
    ("user_input_mutation", &["torch.mutation"]),
];

/// The Rust-only cases.
const RUST_CASES: [&str; 16] = [
    "boxed_dyn_submodules",
    "early_return_err",
    "fold_over_submodules",
    "generic_submodule",
    "if_let_optional_input",
    "interior_mutability",
    "loop_on_tensor_data",
    "loop_with_shape_break",
    "match_on_tensor_value",
    "mut_self_forward",
    "panic_on_tensor_data",
    "print_traced_tensor",
    "shadowing",
    "static_mut_counter",
    "trait_associated_fn_strict",
    "unsafe_raw_pointer",
];

const REJECTED_AT_COMPILE_TIME: [&str; 10] = [
    "early_return_err",
    "interior_mutability",
    "loop_on_tensor_data",
    "match_on_tensor_value",
    "mut_self_forward",
    "panic_on_tensor_data",
    "print_traced_tensor",
    "static_mut_counter",
    "trait_associated_fn_strict",
    "unsafe_raw_pointer",
];

const REJECTED_AT_EXPORT_TIME: [&str; 0] = [];

fn get(name: &str) -> &'static Case {
    case(name).unwrap_or_else(|| panic!("the catalogue has no case `{name}`"))
}

fn exported(name: &str) -> Exported {
    match get(name).outcome() {
        Ok(e) => e,
        Err(f) => panic!("{name} should export: {f}"),
    }
}

/// The graph code without comments and blank lines, one trimmed line per entry.
fn graph_lines(e: &Exported) -> Vec<String> {
    e.program
        .graph_code(0)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(String::from)
        .collect()
}

/// `lines` one to a line, each ending in a newline: the text an `expect!` snapshot holds.
fn joined(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn the_catalogue_holds_pytorchs_36_cases_and_the_rust_only_ones() {
    let names: Vec<&str> = cases().iter().map(|c| c.name).collect();
    let mut expected: Vec<&str> = PYTORCH_CASES.iter().map(|(n, _)| *n).collect();
    expected.extend(RUST_CASES);
    expected.sort_unstable();
    assert_eq!(names, expected, "cases() is every case, sorted by name");

    for (name, tags) in PYTORCH_CASES {
        let c = get(name);
        for tag in tags {
            assert!(c.tags.contains(tag), "{name} lacks PyTorch's tag {tag}");
        }
        for tag in c.tags.iter().filter(|t| !tags.contains(t)) {
            assert!(
                tag.starts_with("rust."),
                "{name}: a tag beyond PyTorch's must be a rust.* tag, got {tag}"
            );
        }
    }
    for name in RUST_CASES {
        assert!(
            get(name).tags.iter().any(|t| t.starts_with("rust.")),
            "the Rust-only case {name} has a rust.* tag"
        );
    }
}

#[test]
fn every_case_has_a_description_and_its_code() {
    for c in cases() {
        let description = c.description();
        assert!(
            description.len() > 80 && (description.ends_with('.') || description.ends_with(".)")),
            "{}: the description is a paragraph: {description:?}",
            c.name
        );
        assert!(
            c.file.starts_with("//!"),
            "{}: the file starts with a doc comment",
            c.name
        );
        let code = c.shown_code();
        assert!(code.contains("#[export_module"), "{}: {code}", c.name);
        assert!(
            !code.contains("ExportDB entry"),
            "{}: the entry is not shown",
            c.name
        );
        assert!(
            !code.contains("inventory::submit!"),
            "{}: the entry is not shown",
            c.name
        );
    }
}

#[test]
fn verdicts_are_as_documented() {
    for c in cases() {
        let expected = if REJECTED_AT_COMPILE_TIME.contains(&c.name) {
            "compile"
        } else if REJECTED_AT_EXPORT_TIME.contains(&c.name) {
            "export"
        } else {
            "supported"
        };
        let actual = match c.verdict {
            Verdict::Supported => "supported",
            Verdict::NotSupported(Rejection::CompileTime { .. }) => "compile",
            Verdict::NotSupported(Rejection::ExportTime) => "export",
        };
        assert_eq!(actual, expected, "{}", c.name);
    }
    let supported = cases().iter().filter(|c| c.verdict.is_supported()).count();
    assert_eq!(supported, 42);
    // PyTorch supports 35 of its 36 cases (all but dynamic_shape_round); ferrex all 36.
    let pytorch_supported = PYTORCH_CASES
        .iter()
        .filter(|(name, _)| get(name).verdict.is_supported())
        .count();
    assert_eq!(pytorch_supported, 36);
}

#[test]
fn every_supported_case_exports_and_matches_eager() {
    for c in cases().into_iter().filter(|c| c.verdict.is_supported()) {
        let outcome = c.outcome();
        assert!(c.behaves_as_declared(&outcome), "{}", c.name);
        let e = outcome.unwrap_or_else(|f| panic!("{}: {f}", c.name));
        assert!(!e.checks.is_empty(), "{}: compared with eager", c.name);
        for check in &e.checks {
            assert!(check.values > 0, "{}: {check:?}", c.name);
            assert!(check.max_abs_diff <= TOLERANCE, "{}: {check:?}", c.name);
        }
    }
}

#[test]
fn the_comparison_catches_a_wrong_program() {
    // A program exported from one model, compared with another: the check must fail.
    use ferrex::prelude::*;

    #[export_module]
    struct Sin {}
    #[export_module]
    impl Sin {
        fn forward(&self, x: &Tensor) -> Tensor {
            x.sin()
        }
    }
    #[export_module]
    struct Cos {}
    #[export_module]
    impl Cos {
        fn forward(&self, x: &Tensor) -> Tensor {
            x.cos()
        }
    }

    let x = Tensor::from_slice(&[0.5f32, 1.0]);
    let program = ferrex::export(&Sin {}, (x.copy(),)).expect("exports");
    let err = ferrex_exportdb::check::compare(&Cos {}, &program, &(x,)).unwrap_err();
    assert!(matches!(err, Failure::Mismatch { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with(
            "the exported program disagrees with the eager model on x: f32 [2]: output 0, \
             element 0: 0.479"
        ),
        "{text}"
    );
}

/// The op targets PyTorch 2.15 records for a case (its reference program), spelt as
/// ferrex records them: in-place ops by their functional form
/// (the mutation becomes an output), and `torch.tensor(..)` constants are lifted
/// inputs, without PyTorch's `lift_fresh_copy` + `detach_`.
fn pytorch_ops(ops: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for op in ops {
        match *op {
            "lift_fresh_copy.default" | "detach_.default" => {}
            other => {
                let functional = other.replacen("_.", ".", 1);
                out.push(format!("aten::{functional}"));
            }
        }
    }
    out
}

/// Each case's op targets in PyTorch's reference program, in graph order.
const REFERENCE_OPS: &[(&str, &[&str])] = &[
    (
        "class_method",
        &[
            "linear.default",
            "add.Tensor",
            "add.Tensor",
            "mul.Tensor",
            "add.Tensor",
            "mul.Tensor",
        ],
    ),
    ("assume_constant_result", &["slice.Tensor"]),
    ("cond_branch_class_method", &["sin.default"]),
    ("cond_branch_nested_function", &["add.Tensor"]),
    (
        "cond_branch_nonlocal_variables",
        &[
            "add.Tensor",
            "lift_fresh_copy.default",
            "detach_.default",
            "add.Tensor",
            "add.Tensor",
        ],
    ),
    ("cond_closed_over_variable", &["add.Tensor"]),
    // The predicate is a SymBool node (`gt = sym_size_int > 2`, not a `torch.ops` op).
    ("cond_operands", &["sym_size.int"]),
    ("cond_predicate", &["sin.default"]),
    ("decorator", &["add.Tensor", "add.Tensor"]),
    ("dictionary", &["mul.Tensor", "mul.Tensor"]),
    ("dynamic_shape_assert", &[]),
    // ferrex's case declares the dim dynamic (PyTorch's reference run exported it
    // static), so the size is a SymInt node.
    (
        "dynamic_shape_constructor",
        &["sym_size.int", "zeros.default"],
    ),
    ("dynamic_shape_if_guard", &["cos.default"]),
    // Dynamic in ferrex's case, static in PyTorch's reference run (as the constructor,
    // and `dynamic_shape_view`).
    (
        "dynamic_shape_slicing",
        &[
            "sym_size.int",
            "sym_size.int",
            "slice.Tensor",
            "slice.Tensor",
        ],
    ),
    (
        "dynamic_shape_view",
        &["sym_size.int", "view.default", "permute.default"],
    ),
    ("fn_with_kwargs", &["mul.Tensor"; 7]),
    ("list_contains", &["add.Tensor"]),
    ("list_unpack", &["add.Tensor"]),
    (
        "nested_function",
        &[
            "add.Tensor",
            "sub.Tensor",
            "add_.Tensor",
            "mul.Tensor",
            "add.Tensor",
        ],
    ),
    (
        "null_context_manager",
        &["sin.default", "cos.default", "add.Tensor"],
    ),
    ("optional_input", &["add.Tensor"]),
    ("scalar_output", &["sym_size.int"]),
    ("specialized_attribute", &["mul.Tensor", "add.Tensor"]),
    ("static_for_loop", &["add.Tensor"; 10]),
    ("static_if", &["ones.default", "add.Tensor"]),
    // The unused `randn` that made the attribute stays, as in PyTorch: drawing
    // advances the generator.
    ("tensor_setattr", &["randn.default", "add.Tensor"]),
    ("type_reflection_method", &["add.Tensor"]),
    ("unsupported_operator", &["sum.default", "add.Tensor"]),
    ("user_input_mutation", &["mul_.Tensor", "cos.default"]),
];

#[test]
fn op_targets_match_pytorchs_reference_programs() {
    let table: BTreeMap<&str, &[&str]> = REFERENCE_OPS.iter().copied().collect();
    for (name, ops) in table {
        assert_eq!(
            exported(name).program.op_targets(),
            pytorch_ops(ops),
            "{name}"
        );
    }
    // A user op is captured as one node; decomposed, it is what its forward is made of:
    // PyTorch's `clone`.
    let autograd = exported("autograd_function").program;
    assert_eq!(
        autograd.op_targets(),
        ["exportdb::my_autograd_function.default"]
    );
    let lowered = autograd.run_decompositions().expect("decomposes");
    assert_eq!(lowered.op_targets(), pytorch_ops(&["clone.default"]));
}

#[test]
fn programs_keep_what_the_cases_show() {
    higher_order_cases_keep_their_subgraphs();
    dynamic_shape_cases_keep_their_symbols();
    cases_keep_their_loops_constants_and_signatures();
}

fn higher_order_cases_keep_their_subgraphs() {
    expect![[r#"
        fn forward(xs: f32[s0, 2], y: f32[2]) {
        let map_impl = map_impl(body_graph_0, [xs], [y]);
        let getitem: f32[s0, 2] = map_impl[0];
        return (getitem,);
        }
        fn body_graph_0(xs: f32[2], y: f32[2]) {
        let add: f32[2] = aten::add.Tensor(xs, y);
        return (add,);
        }
    "#]]
    .assert_eq(&joined(&graph_lines(&exported("dynamic_shape_map"))));
    let cond = graph_lines(&exported("cond_closed_over_variable"));
    expect![[r#"
        fn forward(pred: bool[], x: f32[3, 2]) {
        let add: f32[3, 2] = aten::add.Tensor(x, 1);
        let cond = cond(pred, true_graph_0, false_graph_0, (add, x));
        let getitem: f32[3, 2] = cond[0];
        return (getitem,);
        }
        fn true_graph_0(add: f32[3, 2], x: f32[3, 2]) {
        let mul: f32[3, 2] = aten::mul.Tensor(x, 2);
        return (mul,);
        }
        fn false_graph_0(add: f32[3, 2], x: f32[3, 2]) {
        let sub: f32[3, 2] = aten::sub.Tensor(x, 2);
        return (sub,);
        }
    "#]]
    .assert_eq(&joined(&cond));
}

fn dynamic_shape_cases_keep_their_symbols() {
    expect![[r#"
        fn forward(x: f32[s0, 2]) {
        let sym_size_int: Sym(s0) = aten::sym_size.int(x, 0);
        let add: Sym(s0 + 1) = sym_size_int + 1;
        let floordiv: Sym(((s0 + 1) // 2)) = add // 2;
        let slice_1: f32[((s0 + 1) // 2), 2] = aten::slice.Tensor(x, 0, None, floordiv);
        return (slice_1,);
        }
    "#]]
    .assert_eq(&joined(&graph_lines(&exported("dynamic_shape_round"))));
    let constructor = graph_lines(&exported("dynamic_shape_constructor"));
    expect![[r#"
        let sym_size_int: Sym(s0) = aten::sym_size.int(x, 0);
        let mul: Sym(2*s0) = sym_size_int * 2;
        let zeros: f32[2*s0] = aten::zeros.default([mul]);
    "#]]
    .assert_eq(&joined(&constructor[1..4]));
    let slicing = graph_lines(&exported("dynamic_shape_slicing"));
    expect![[r#"
        let sym_size_int: Sym(s0) = aten::sym_size.int(x, 0);
        let sym_size_int_1: Sym(s1) = aten::sym_size.int(x, 1);
        let sub: Sym(s0 - 2) = sym_size_int - 2;
        let slice_1: f32[s0 - 2, s1] = aten::slice.Tensor(x, 0, None, sub);
        let sub_1: Sym(s1 - 1) = sym_size_int_1 - 1;
        let slice_2: f32[s0 - 2, 1] = aten::slice.Tensor(slice_1, 1, sub_1, None, 2);
    "#]]
    .assert_eq(&joined(&slicing[1..7]));
    // PyTorch's program: `sym_size_int_1 = sym_size.int(x, 1)`, `add = sym_size_int_1 + 1`.
    let scalar = exported("scalar_output");
    expect![[r#"
        let sym_size_int: Sym(s0) = aten::sym_size.int(x, 1);
        let add: Sym(s0 + 1) = sym_size_int + 1;
        return (add,);
    "#]]
    .assert_eq(&joined(&graph_lines(&scalar)[1..4]));
    assert_eq!(
        scalar.program.range_constraints().to_string(),
        "{s0: VR[0, int_oo]}"
    );
}

fn cases_keep_their_loops_constants_and_signatures() {
    let static_for = graph_lines(&exported("static_for_loop"));
    for i in 0..10 {
        let name = if i == 0 {
            "add".to_string()
        } else {
            format!("add_{i}")
        };
        assert!(
            static_for.contains(&format!(
                "let {name}: f32[3, 2] = aten::add.Tensor(x, {i});"
            )),
            "{static_for:?}"
        );
    }
    let nonlocal = exported("cond_branch_nonlocal_variables");
    assert!(nonlocal
        .program
        .to_string()
        .contains("c_lifted_tensor_0: CONSTANT_TENSOR target='lifted_tensor_0'"));
    let optional = exported("optional_input");
    assert!(optional
        .program
        .to_string()
        .contains("c_default_y: CONSTANT_TENSOR target='default_y'"));
    assert_eq!(
        graph_lines(&exported("fn_with_kwargs"))[0],
        "fn forward(pos0: f32[4], tuple0_0: f32[4], tuple0_1: f32[4], myargs_0: f32[4], \
         myargs_1: f32[4], mykw0: f32[4], mykwargs_input0: f32[4], mykwargs_input1: f32[4]) {"
    );
    assert_eq!(
        graph_lines(&exported("pytree_flatten"))[0],
        "fn forward(x_0_0: f32[3, 2], x_0_1: f32[3, 2], x_1: f32[3, 2]) {"
    );
}

#[test]
fn data_dependent_cases_keep_pytorchs_program() {
    // PyTorch: item, `item >= 0` + _assert_scalar, `item <= 5` + _assert_scalar, zeros;
    // the comparisons are SymBool values (`_operator.ge` / `_operator.le`) in both.
    let size = exported("constrain_as_size_example");
    let lines = graph_lines(&size);
    assert_eq!(lines[0], "fn forward(x: i64[]) {");
    assert_eq!(lines[1], "let item: Sym(u0) = aten::item.default(x);");
    assert_eq!(lines[2], "let ge: Sym(u0 >= 0) = item >= 0;");
    assert!(lines[3].starts_with(
        "let _assert_scalar: () = aten::_assert_scalar.default(ge, \"Runtime assertion failed \
         for expression u0 >= 0 at exportdb/src/cases/constrain_as_size_example.rs:"
    ));
    assert_eq!(lines[4], "let le: Sym(u0 <= 5) = item <= 5;");
    assert_eq!(
        lines[6],
        "let zeros: f32[u0, 5] = aten::zeros.default([item, 5]);"
    );
    assert_eq!(
        size.program.range_constraints().to_string(),
        "{u0: VR[0, 5]}"
    );
    let err = size
        .program
        .module()
        .call((Tensor::scalar(6i64),))
        .unwrap_err();
    assert!(err
        .to_string()
        .contains("Runtime assertion failed for expression u0 <= 5 at exportdb/src/cases/"));

    // The branch `a < 6` is decided by the checked range [0, 5]: no guard, only `sin`.
    let value = exported("constrain_as_value_example");
    assert!(value.program.guards().is_empty());
    assert_eq!(
        value.program.op_targets(),
        [
            "aten::item.default",
            "aten::_assert_scalar.default",
            "aten::_assert_scalar.default",
            "aten::sin.default",
        ]
    );

    let assumed = exported("assume_constant_result").program;
    assert_eq!(assumed.assumed_constants().len(), 1);
    assert_eq!(assumed.assumed_constants()[0].value, "4");

    // The attribute is a buffer that forward replaces: PyTorch's ops plus the copies that
    // write the new value, exported as buffer mutations.
    let attr = exported("model_attr_mutation").program;
    assert_eq!(
        attr.op_targets(),
        [
            "aten::zeros.default",
            "aten::zeros.default",
            "aten::copy.default",
            "aten::copy.default",
            "aten::sum.default",
            "aten::sum.default",
            "aten::add.Tensor",
        ]
    );
    let kinds: Vec<OutputKind> = attr
        .graph_signature()
        .output_specs
        .iter()
        .map(|o| o.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            OutputKind::BufferMutation,
            OutputKind::BufferMutation,
            OutputKind::UserOutput
        ]
    );
}

#[test]
fn mutations_and_specialised_inputs_behave_as_described() {
    let mutation = exported("user_input_mutation").program;
    let outputs = &mutation.graph_signature().output_specs;
    assert_eq!(outputs[0].kind, OutputKind::UserInputMutation);
    assert_eq!(outputs[0].target.as_deref(), Some("x"));
    let x = Tensor::from_slice(&[0.0f32, 1.0]).reshape([1, 2]);
    let err = mutation.module().call((x,)).unwrap_err();
    assert_eq!(err.to_string(), "Guard failed: x.size()[0] == 3, but got 1");
    let x = Tensor::ones([3, 2]);
    let out = mutation.module().call((x.clone(),)).expect("runs");
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![2f32.cos(); 6]);
    assert_eq!(
        x.to_vec::<f32>().unwrap(),
        vec![2.0; 6],
        "the input is written"
    );

    let optional = exported("optional_input").program;
    let err = optional
        .module()
        .call((Tensor::randn([2, 3]), Some(Tensor::randn([2, 3]))))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `y`: expected None (the value the program was exported with), got a tensor"
    );

    let setattr = exported("tensor_setattr").program;
    let err = setattr
        .module()
        .call((Tensor::randn([3, 2]), "other".to_string()))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `attr`: expected \"attr\" (the value the program was exported with), got the \
         string \"other\""
    );
}

#[test]
fn size_guards_reject_inputs_outside_the_range() {
    let assert_case = exported("dynamic_shape_assert").program;
    assert_eq!(
        assert_case.range_constraints().to_string(),
        "{s0: VR[3, int_oo]}"
    );
    let err = assert_case
        .module()
        .call((Tensor::randn([2, 2]),))
        .unwrap_err();
    assert_eq!(err.to_string(), "Guard failed: x.size()[0] >= 3, but got 2");

    let looped = exported("loop_with_shape_break").program;
    assert_eq!(looped.range_constraints().to_string(), "{s0: VR[17, 32]}");
    let err = looped.module().call((Tensor::randn([16, 3]),)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Guard failed: x.size()[0] >= 17, but got 16"
    );
    let err = looped.module().call((Tensor::randn([33, 3]),)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Guard failed: x.size()[0] <= 32, but got 33"
    );
}

#[test]
fn export_time_rejections_give_the_exact_error() {
    for name in REJECTED_AT_EXPORT_TIME {
        let c = get(name);
        assert!(c.behaves_as_declared(&c.outcome()), "{name}");
    }
}

#[test]
fn compile_time_rejections_carry_their_diagnostic() {
    for name in REJECTED_AT_COMPILE_TIME {
        let c = get(name);
        let diagnostic = c
            .diagnostic()
            .unwrap_or_else(|| panic!("{name} has a diagnostic"));
        match c.outcome() {
            Err(Failure::CompileTime { diagnostic: d }) => assert_eq!(d, diagnostic),
            other => panic!("{name}: expected the compile-time diagnostic, got {other:?}"),
        }
        assert!(
            diagnostic.starts_with("error: graph break: "),
            "{name}: {diagnostic}"
        );
        assert!(
            diagnostic.contains(&format!("--> ui/{name}.rs:")),
            "{name}: the diagnostic points into the case's code"
        );
        assert!(
            c.code.contains("fn main()"),
            "{name}: the code is the trybuild program"
        );
        assert!(
            !c.shown_code().contains("fn main() {}"),
            "{name}: the empty trybuild `main` is not shown"
        );
        assert!(c.code.starts_with(c.shown_code()), "{name}");
    }
    let attr = get("mut_self_forward").diagnostic().unwrap_or_default();
    assert!(attr.starts_with("error: graph break: `forward` takes `&mut self`"));
}

#[test]
fn tags_and_lookups() {
    let tags = ferrex_exportdb::tags();
    for tag in [
        "torch.cond",
        "torch.dynamic-shape",
        "torch.dynamic-value",
        "torch.escape-hatch",
        "torch.map",
        "torch.mutation",
        "torch.operator",
        "python.assert",
        "python.builtin",
        "python.closure",
        "python.context-manager",
        "python.control-flow",
        "python.data-structure",
        "python.object-model",
    ] {
        assert!(tags.contains(&tag), "{tag}");
    }
    let mut sorted = tags.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(tags, sorted);
    let cond: Vec<&str> = ferrex_exportdb::cases_with_tag("torch.map")
        .iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(cond, ["dynamic_shape_map"]);
    assert!(case("no_such_case").is_none());
    assert!(ferrex_exportdb::cases_with_tag("no.such-tag").is_empty());
}
