use super::schema;

/// The `models/model.json` of `mymodule.pt2` as PyTorch 2.15 writes it (abridged to one
/// node), parsed and written back: the same JSON value.
#[test]
fn schema_round_trips_pytorch_json() {
    let text = r#"{"graph_module": {"graph": {"inputs": [{"as_tensor": {"name": "x"}}],
      "outputs": [{"as_tensor": {"name": "relu"}}],
      "nodes": [{"target": "torch.ops.aten.relu.default",
        "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}, "kind": 1}],
        "outputs": [{"as_tensor": {"name": "relu"}}],
        "metadata": {"stack_trace": "File \"a.py\", line 3, in forward\n    return x.relu()"},
        "is_hop_single_tensor_return": null, "name": "relu"}],
      "tensor_values": {"x": {"dtype": 7, "sizes": [{"as_expr": {"expr_str": "Symbol('s77', positive=True, integer=True)", "hint": {"as_int": 8}}}, {"as_int": 3}],
        "requires_grad": false, "device": {"type": "cpu", "index": null},
        "strides": [{"as_int": 3}, {"as_int": 1}], "storage_offset": {"as_int": 0}, "layout": 7}},
      "sym_int_values": {}, "sym_bool_values": {}, "is_single_tensor_return": false,
      "custom_obj_values": {}, "sym_float_values": {}},
     "signature": {"input_specs": [{"user_input": {"arg": {"as_tensor": {"name": "x"}}}}],
       "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "relu"}}}}]},
     "module_call_graph": [{"fqn": "", "signature": null}], "metadata": {},
     "treespec_namedtuple_fields": {}},
    "opset_version": {"aten": 10},
    "range_constraints": {"s77": {"min_val": 2, "max_val": null}},
    "schema_version": {"major": 8, "minor": 20}, "verifiers": ["TRAINING"],
    "torch_version": "2.15.0+cu132", "guards_code": []}"#;
    let ep: schema::ExportedProgram = serde_json::from_str(text).unwrap();
    assert_eq!(ep.schema_version.major, 8);
    assert_eq!(ep.range_constraints["s77"].max_val, None);
    let written = serde_json::to_value(&ep).unwrap();
    let original: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(written, original);
}

#[test]
fn json_floats_spell_infinity_and_nan() {
    let args: Vec<schema::Argument> =
        serde_json::from_str(r#"[{"as_float": "Infinity"}, {"as_float": "-Infinity"}, {"as_float": "NaN"}, {"as_float": 0.5}]"#)
            .unwrap();
    let floats: Vec<f64> = args
        .iter()
        .map(|a| match a {
            schema::Argument::AsFloat(f) => f.0,
            _ => 0.0,
        })
        .collect();
    assert_eq!(floats[0], f64::INFINITY);
    assert_eq!(floats[1], f64::NEG_INFINITY);
    assert!(floats[2].is_nan());
    assert_eq!(floats[3], 0.5);
    assert_eq!(
        serde_json::to_string(&args).unwrap(),
        r#"[{"as_float":"Infinity"},{"as_float":"-Infinity"},{"as_float":"NaN"},{"as_float":0.5}]"#
    );
}
