//! Every registered op against the cases PyTorch 2.15 computed
//! (`tests/data/op_vectors.json`, copied from `shared/reference/pytorch-2.15/`).
//!
//! Shapes and dtypes must match exactly, integers and bools exactly, floats within
//! `atol + rtol * |expected|` with rtol = 1e-5 and atol = 1e-6 (the absolute term only
//! matters for results near zero, where a relative bound means nothing).

use ferrex::ops::{lookup, run_eager, Value};
use ferrex::{DType, SymInt, Tensor};
use serde_json::Value as Json;

const RTOL: f64 = 1e-5;
const ATOL: f64 = 1e-6;

fn cases() -> Vec<Json> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/op_vectors.json"))
            .expect("tests/data/op_vectors.json is part of the repository");
    let doc: Json = serde_json::from_str(&text).expect("op_vectors.json parses");
    doc["cases"].as_array().cloned().unwrap_or_default()
}

fn float_of(v: &Json) -> f64 {
    match v {
        Json::Null => f64::NAN,
        Json::String(s) if s == "inf" => f64::INFINITY,
        Json::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

fn tensor_of(t: &Json) -> Tensor {
    let dtype = DType::from_short_name(t["dtype"].as_str().unwrap_or("f32")).expect("known dtype");
    let shape: Vec<usize> = t["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data = t["data"].as_array().unwrap();
    let r = match dtype {
        DType::F32 => Tensor::from_vec(data.iter().map(|v| float_of(v) as f32).collect(), &shape),
        DType::F64 => Tensor::from_vec(data.iter().map(float_of).collect(), &shape),
        DType::I64 => Tensor::from_vec(data.iter().map(|v| v.as_i64().unwrap()).collect(), &shape),
        DType::I32 => Tensor::from_vec(
            data.iter().map(|v| v.as_i64().unwrap() as i32).collect(),
            &shape,
        ),
        DType::U8 => Tensor::from_vec(
            data.iter().map(|v| v.as_i64().unwrap() as u8).collect(),
            &shape,
        ),
        DType::Bool => {
            Tensor::from_vec(data.iter().map(|v| v.as_bool().unwrap()).collect(), &shape)
        }
    };
    r.check().expect("case tensor fits its shape").clone()
}

fn value_of(v: &Json) -> Value {
    if v.is_null() {
        return Value::None;
    }
    let obj = v.as_object().expect("an argument is an object or null");
    if let Some(t) = obj.get("tensor") {
        return Value::Tensor(tensor_of(t));
    }
    if let Some(ts) = obj.get("tensors") {
        return Value::TensorList(ts.as_array().unwrap().iter().map(tensor_of).collect());
    }
    if let Some(i) = obj.get("int") {
        return Value::Int(SymInt::Int(i.as_i64().unwrap()));
    }
    if let Some(f) = obj.get("float") {
        return Value::Float(float_of(f));
    }
    if let Some(b) = obj.get("bool") {
        return Value::Bool(b.as_bool().unwrap());
    }
    if let Some(s) = obj.get("str") {
        return Value::Str(s.as_str().unwrap().to_string());
    }
    if let Some(d) = obj.get("dtype") {
        if obj.len() == 1 {
            return Value::DType(DType::from_short_name(d.as_str().unwrap()).expect("known dtype"));
        }
        return Value::Tensor(tensor_of(v));
    }
    if let Some(l) = obj.get("list") {
        let items: Vec<Value> = l.as_array().unwrap().iter().map(value_of).collect();
        if items.iter().all(|i| matches!(i, Value::Int(_))) {
            return Value::IntList(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::Int(s) => s,
                        _ => unreachable!(),
                    })
                    .collect(),
            );
        }
        if items
            .iter()
            .all(|i| matches!(i, Value::Float(_) | Value::Int(_)))
        {
            return Value::FloatList(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::Float(f) => f,
                        Value::Int(s) => s.hint() as f64,
                        _ => unreachable!(),
                    })
                    .collect(),
            );
        }
        if items.iter().all(|i| matches!(i, Value::Tensor(_))) {
            return Value::TensorList(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::Tensor(t) => t,
                        _ => unreachable!(),
                    })
                    .collect(),
            );
        }
        return Value::OptTensorList(
            items
                .into_iter()
                .map(|i| match i {
                    Value::Tensor(t) => Some(t),
                    _ => None,
                })
                .collect(),
        );
    }
    panic!("unknown argument encoding: {v}")
}

fn expected_tensors(out: &Json) -> Vec<Json> {
    if let Some(t) = out.get("tensor") {
        return vec![t.clone()];
    }
    if let Some(ts) = out.get("tensors") {
        return ts.as_array().unwrap().clone();
    }
    panic!("unknown output encoding: {out}")
}

/// Compares one result; `Err` says how it differs.
fn compare(got: &Tensor, want: &Json) -> Result<(), String> {
    let dtype = DType::from_short_name(want["dtype"].as_str().unwrap()).unwrap();
    let shape: Vec<usize> = want["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    if got.dtype() != dtype {
        return Err(format!("dtype {} != {}", got.dtype(), dtype));
    }
    if got.shape() != shape {
        return Err(format!("shape {:?} != {:?}", got.shape(), shape));
    }
    let data = want["data"].as_array().unwrap();
    let vals = got.to_vec::<f64>().map_err(|e| e.to_string())?;
    for (i, (g, w)) in vals.iter().zip(data).enumerate() {
        let ok = match dtype {
            DType::F32 | DType::F64 => {
                let w = float_of(w);
                (g.is_nan() && w.is_nan()) || g == &w || (g - w).abs() <= ATOL + RTOL * w.abs()
            }
            DType::Bool => (*g != 0.0) == w.as_bool().unwrap(),
            _ => *g as i64 == w.as_i64().unwrap(),
        };
        if !ok {
            return Err(format!("element {i}: got {g}, expected {w}"));
        }
    }
    Ok(())
}

fn run_case(case: &Json) -> Result<(), String> {
    let name = case["op"].as_str().unwrap();
    let op = lookup(name).ok_or_else(|| format!("{name} is not registered"))?;
    let schema = op.parsed().map_err(|e| e.to_string())?;
    let mut values: Vec<Value> = case["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(value_of)
        .collect();
    if let Some(kwargs) = case["kwargs"].as_object() {
        for (k, v) in kwargs {
            let pos = schema
                .position(k)
                .ok_or_else(|| format!("{name} has no argument `{k}`"))?;
            while values.len() <= pos {
                let i = values.len();
                values.push(
                    schema.args[i]
                        .default
                        .as_ref()
                        .map(ferrex::ops::schema::default_value)
                        .unwrap_or(Value::None),
                );
            }
            values[pos] = value_of(v);
        }
    }
    let out = run_eager(op, &values).map_err(|e| format!("{name}: {e}"))?;
    let want = expected_tensors(&case["out"]);
    if out.len() != want.len() {
        return Err(format!(
            "{name}: {} outputs, expected {}",
            out.len(),
            want.len()
        ));
    }
    for (i, (g, w)) in out.iter().zip(&want).enumerate() {
        compare(g, w).map_err(|e| format!("{name} output {i}: {e}"))?;
    }
    Ok(())
}

/// Every case in the file, registered or not: an op that is missing fails its cases.
#[test]
fn every_pytorch_case_passes() {
    let mut passed = 0;
    let mut failures = Vec::new();
    for case in cases() {
        match run_case(&case) {
            Ok(()) => passed += 1,
            Err(e) => failures.push(e),
        }
    }
    println!("op vectors: {passed} passed, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
    assert!(passed > 0);
}

/// Every registered overload is either covered by a PyTorch case or listed here with
/// the reason it has none (its eager behaviour is then tested elsewhere).
const WITHOUT_CASE: &[(&str, &str)] = &[
    (
        "aten::linalg_inv.default",
        "pt2_dense's dense.pt2 (default IR; both runners against PyTorch); linalg_dense.rs (Cramer's rule, a singular matrix)",
    ),
    (
        "aten::linalg_det.default",
        "pt2_dense's dense.pt2, both runners; linalg_dense.rs (0 for a singular matrix)",
    ),
    (
        "aten::linalg_slogdet.default",
        "pt2_dense's dense.pt2, both runners; linalg_dense.rs (sign 0 and -inf for a singular matrix)",
    ),
    (
        "aten::linalg_solve.default",
        "pt2_dense's dense.pt2 (matrix and vector right-hand sides, a broadcast batch), both runners; linalg_dense.rs",
    ),
    (
        "aten::linalg_cholesky.default",
        "pt2_dense's dense.pt2 (lower and upper), both runners; linalg_dense.rs (the failing minor named)",
    ),
    (
        "aten::linalg_matrix_power.default",
        "pt2_dense's dense.pt2 (3, 0, -2), both runners; linalg_dense.rs (-1 against Cramer's rule)",
    ),
    (
        "aten::linalg_matrix_norm.str_ord",
        "pt2_dense's dense.pt2 ('fro'), both runners; linalg_dense.rs (orders needing singular values refused)",
    ),
    (
        "aten::linalg_matrix_norm.default",
        "pt2_dense's dense.pt2 (1 and -inf, keepdim), both runners",
    ),
    (
        "aten::linalg_norm.ord_str",
        "pt2_dense's dense.pt2 (`torch.linalg.norm(a, 'fro', dim)`), both runners",
    ),
    (
        "aten::searchsorted.Scalar",
        "ops_special_ordering.rs (one number: a 0-d index); its tensor overload in pt2_more's ordering.pt2",
    ),
    (
        "aten::index_fill.int_Tensor",
        "ops_special_ordering.rs (a 0-d value tensor, a vector refused); the int_Scalar overload in pt2_more's same_pad.pt2",
    ),
    (
        "aten::log_sigmoid.default",
        "not in the shared op vectors; ops_math.rs (formula and limits), runtime.rs (exported, fused)",
    ),
    (
        "aten::topk.default",
        "ops_pt2_more.rs (values, indices, ties, NaN); gather.pt2",
    ),
    (
        "aten::einsum.default",
        "ops_pt2_more.rs (two and three operands, implicit output) against loops; einsum.pt2",
    ),
    (
        "aten::pixel_shuffle.default",
        "ops_pt2_more.rs against the index formula; pixel_shuffle.pt2",
    ),
    (
        "aten::pixel_unshuffle.default",
        "inverse of pixel_shuffle; ops_pt2_more.rs",
    ),
    (
        "aten::upsample_bilinear2d.vec",
        "ops_pt2_more.rs (PyTorch's documented values, both align_corners); bilinear.pt2",
    ),
    (
        "aten::upsample_bilinear2d.default",
        "sizes-and-scales overload of upsample_bilinear2d.vec; ops_pt2_more.rs",
    ),
    (
        "aten::avg_pool1d.default",
        "ops_pt2_more.rs (padding, ceil_mode, count_include_pad); conv1d.pt2",
    ),
    (
        "aten::conv_transpose1d.default",
        "1-D form of conv_transpose2d (height 1); ops_pt2_more.rs covers the 2-D kernel",
    ),
    (
        "aten::conv_transpose2d.input",
        "ops_pt2_more.rs (gather form, full-convolution identity); convt.pt2",
    ),
    (
        "aten::pad.default",
        "ops_pt2_more.rs (each mode against its index map); pads.pt2 (four modes, dynamic)",
    ),
    (
        "aten::reflection_pad1d.default",
        "ops_pt2_more.rs against the index map (PyTorch 2.15's core IR writes reflect pads as `index`)",
    ),
    (
        "aten::reflection_pad2d.default",
        "ops_pt2_more.rs against the index map and `aten::pad`",
    ),
    (
        "aten::replication_pad1d.default",
        "ops_pt2_more.rs against the index map (PyTorch 2.15's core IR writes replicate pads as `index`)",
    ),
    (
        "aten::replication_pad2d.default",
        "ops_pt2_more.rs against the index map and `aten::pad`",
    ),
    (
        "aten::empty.memory_format",
        "zeros (PyTorch leaves it uninitialised); pads.core.pt2's circular pad fills it",
    ),
    (
        "aten::std.dim",
        "std_var.pt2 (unbiased or not, kept dims or not); the core IR's var.correction + sqrt",
    ),
    ("aten::var.dim", "std_var.pt2"),
    (
        "aten::instance_norm.default",
        "ops_pt2_more.rs against per-plane statistics; norms.pt2",
    ),
    (
        "aten::_native_batch_norm_legit.no_stats",
        "ops_pt2_more.rs (per-channel statistics); norms.core.pt2",
    ),
    (
        "aten::gru.input",
        "ops_pt2_more.rs against a plain-Rust recurrence (2 bidirectional layers); gru.pt2",
    ),
    (
        "aten::lstm.input",
        "ops_pt2_more.rs against a plain-Rust recurrence (2 bidirectional layers); lstm.pt2",
    ),
    (
        "aten::rnn_tanh.input",
        "pt2_more's rnn_tanh.pt2 (2 batch-first layers), both IRs and runners; the cell in ferrex-kernels",
    ),
    (
        "aten::rnn_relu.input",
        "pt2_more's rnn_relu.pt2 (bidirectional), both IRs and runners; the cell in ferrex-kernels",
    ),
    (
        "aten::cross_entropy_loss.default",
        "pt2_more's losses.pt2 (15 losses: class indices with weights, ignore_index and label smoothing, class probabilities, a 3-D input, every reduction), both IRs and runners",
    ),
    (
        "aten::nll_loss_nd.default",
        "as `cross_entropy_loss`",
    ),
    (
        "aten::nll_loss.default",
        "as `cross_entropy_loss`",
    ),
    (
        "aten::mse_loss.default",
        "as `cross_entropy_loss`",
    ),
    (
        "aten::l1_loss.default",
        "as `cross_entropy_loss`",
    ),
    (
        "aten::smooth_l1_loss.default",
        "as `cross_entropy_loss`",
    ),
    (
        "aten::huber_loss.default",
        "as `cross_entropy_loss`",
    ),
    (
        "aten::binary_cross_entropy.default",
        "as `cross_entropy_loss`",
    ),
    (
        "aten::binary_cross_entropy_with_logits.default",
        "as `cross_entropy_loss`",
    ),
    (
        "aten::kl_div.default",
        "as `cross_entropy_loss`",
    ),
    (
        "aten::adaptive_max_pool2d.default",
        "pt2_more's adaptive_max.pt2 (values and indices, a global max pool, an unbatched input), both IRs and runners",
    ),
    (
        "aten::im2col.default",
        "pt2_more's patches.pt2 (`F.unfold` with dilation, padding and stride, a 2x3 kernel, an unbatched image), both IRs and runners",
    ),
    (
        "aten::cdist.default",
        "pt2_more's patches.pt2 (p = 2 and 1, batched), both IRs and runners",
    ),
    (
        "aten::_cdist_forward.default",
        "as `cdist` (the core IR's form)",
    ),
    (
        "aten::linspace.default",
        "pt2_more's patches.pt2 (a float range of the input's length, an integer one), both IRs and runners",
    ),
    (
        "aten::fill.Scalar",
        "pt2_more's inplace.pt2 (`y.fill_(3.0)`), both IRs and runners",
    ),
    (
        "aten::zero.default",
        "pt2_more's inplace.pt2 (`y.zero_()`), both IRs and runners",
    ),
    (
        "aten::lstm_cell.default",
        "pt2_more's cells.pt2 (unrolled over 4 steps, dynamic batch), both IRs and runners; nn_recurrent.rs (nn::LSTMCell against PyTorch's values)",
    ),
    (
        "aten::gru_cell.default",
        "as `lstm_cell`",
    ),
    (
        "aten::rnn_tanh_cell.default",
        "as `lstm_cell`",
    ),
    (
        "aten::rnn_relu_cell.default",
        "as `lstm_cell` (without biases)",
    ),
    (
        "aten::cummax.default",
        "pt2_more's scans.pt2 (values and indices along both dims; ties in an integer input), both IRs and runners",
    ),
    (
        "aten::cummin.default",
        "as `cummax`",
    ),
    (
        "aten::erfinv.default",
        "pt2_more's scans.pt2 (`erfinv(0.99 tanh(x))`), both IRs and runners",
    ),
    (
        "aten::diag_embed.default",
        "pt2_more's scans.pt2 (offsets 0, 1 and -2, swapped dims), both IRs and runners",
    ),
    (
        "aten::square.default",
        "pt2_more's scans.pt2 (f32 and i64 inputs), both IRs and runners",
    ),
    (
        "aten::conv3d.default",
        "pt2_more's volumes.pt2 (padding; stride, dilation, groups and no bias), both IRs and runners (the core IR's 5-D `convolution`)",
    ),
    (
        "aten::max_pool3d.default",
        "pt2_more's volumes.pt2 (ceil mode, an unbatched input), both IRs and runners",
    ),
    (
        "aten::max_pool3d_with_indices.default",
        "pt2_more's volumes.pt2 (its indices), both IRs and runners",
    ),
    (
        "aten::avg_pool3d.default",
        "pt2_more's volumes.pt2 (padding without count_include_pad, divisor_override), both IRs and runners",
    ),
    (
        "aten::adaptive_avg_pool3d.default",
        "pt2_more's volumes.pt2 (`AdaptiveAvgPool3d((1, 2, 2))`), default IR, both runners",
    ),
    (
        "aten::_adaptive_avg_pool3d.default",
        "as `adaptive_avg_pool3d` (the core IR's form)",
    ),
    (
        "aten::embedding_bag.padding_idx",
        "pt2_more's bags.pt2 (sum with per-sample weights, mean with a padding index, max, include_last_offset, a 2-D input, an empty bag), both IRs and runners",
    ),
    (
        "aten::embedding_bag.default",
        "the overload without `padding_idx` (older exports): the same kernel as `embedding_bag.padding_idx`",
    ),
    (
        "aten::_embedding_bag.default",
        "as `embedding_bag.padding_idx` (the core IR's form)",
    ),
    (
        "aten::affine_grid_generator.default",
        "pt2_more's spatial.pt2 (both corner rules), both IRs and runners",
    ),
    (
        "aten::grid_sampler.default",
        "pt2_more's spatial.pt2 (bilinear, nearest and bicubic; zeros, border and reflection padding; both corner rules), default IR, both runners",
    ),
    (
        "aten::grid_sampler_2d.default",
        "as `grid_sampler` (the core IR's form)",
    ),
    (
        "aten::upsample_bicubic2d.vec",
        "pt2_more's spatial.pt2 (a scale factor; a size with align_corners), both IRs and runners",
    ),
    (
        "aten::upsample_bicubic2d.default",
        "sizes-and-scales overload of upsample_bicubic2d.vec: the same kernel",
    ),
    (
        "aten::pow.Scalar",
        "pt2_more's extras.pt2 (rotary frequencies `10000 ** (arange / 8)`, `2 ** y`), both IRs and runners",
    ),
    (
        "aten::max.other",
        "pt2_more's extras.pt2 (`torch.max(x, y)`), both IRs and runners; decomposes to `maximum`",
    ),
    (
        "aten::min.other",
        "pt2_more's extras.pt2 (`torch.min(x, y[0])`, broadcast), both IRs and runners; decomposes to `minimum`",
    ),
    (
        "aten::unfold.default",
        "pt2_more's extras.pt2 (windows along the last dim and along dim 1), both IRs and runners",
    ),
    (
        "aten::_weight_norm.default",
        "pt2_more's extras.pt2 (weight norm of a conv over dim 0 and of a linear layer over the whole weight), both IRs and runners",
    ),
    (
        "aten::logit.default",
        "pt2_more's extras.pt2 (with and without eps), both IRs and runners",
    ),
    (
        "aten::cosine_embedding_loss.default",
        "pt2_more's losses2.pt2 (1-D and 0-D targets, a margin), both IRs and runners; ops_linalg_losses.rs (against loops)",
    ),
    (
        "aten::hinge_embedding_loss.default",
        "pt2_more's losses2.pt2 (a margin; sum and none), both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::margin_ranking_loss.default",
        "pt2_more's losses2.pt2 (a margin; none and mean), both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::multi_margin_loss.default",
        "pt2_more's losses2.pt2 (p = 1 and 2, a margin, a class weight; every reduction), both IRs and runners; ops_linalg_losses.rs (shape errors)",
    ),
    (
        "aten::poisson_nll_loss.default",
        "pt2_more's losses2.pt2 (log input; probabilities with the Stirling term), both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::soft_margin_loss.default",
        "pt2_more's losses2.pt2 (mean and none), both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::triplet_margin_loss.default",
        "pt2_more's losses2.pt2 (p = 1 and 2, swap), both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::empty_permuted.default",
        "pt2_more's losses2.pt2's core IR (the `rsub` of a number), both runners; ops_linalg_losses.rs (layout errors)",
    ),
    (
        "aten::addbmm.default",
        "pt2_more's linalg2.pt2 (beta, alpha), both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::addmv.default",
        "pt2_more's linalg2.pt2 (beta, alpha), both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::dot.default",
        "pt2_more's linalg2.pt2, both IRs and runners; ops_linalg_losses.rs (length and rank errors)",
    ),
    (
        "aten::trace.default",
        "pt2_more's linalg2.pt2, both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::tensordot.default",
        "pt2_more's linalg2.pt2 (a dim count, dim lists), both IRs and runners; ops_linalg_losses.rs (against loops, errors)",
    ),
    (
        "aten::kron.default",
        "pt2_more's linalg2.pt2 (operands of different ranks), both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::block_diag.default",
        "pt2_more's linalg2.pt2 (a matrix and a vector), both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::cartesian_prod.default",
        "pt2_more's linalg2.pt2 (three vectors), both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::cross.default",
        "pt2_more's linalg2.pt2 (dim 1), both IRs and runners; ops_linalg_losses.rs (default dim, size errors)",
    ),
    (
        "aten::linalg_cross.default",
        "pt2_more's linalg2.pt2 (torch.linalg.cross, dim -1), both IRs and runners; ops_linalg_losses.rs",
    ),
    (
        "aten::bilinear.default",
        "pt2_more's linalg2.pt2 (nn.Bilinear on 2-D and 3-D inputs), both IRs and runners; ops_linalg_losses.rs (against loops, weight errors)",
    ),
    (
        "aten::_trilinear.default",
        "pt2_more's linalg2.pt2's core IR (nn.Bilinear), both runners; ops_linalg_losses.rs (through bilinear)",
    ),
    (
        "aten::convolution.default",
        "Core ATen form of conv1d/conv2d; tests/tests/core_aten_ops.rs",
    ),
    (
        "aten::max_pool2d_with_indices.default",
        "Core ATen form of max_pool2d; tests/tests/core_aten_ops.rs",
    ),
    (
        "aten::mul.Scalar",
        "Core ATen scaling in decompositions; tests/tests/core_aten_ops.rs",
    ),
    (
        "aten::split_with_sizes.default",
        "Core ATen form of split/chunk; tests/tests/core_aten_ops.rs",
    ),
    (
        "aten::squeeze.dims",
        "Core ATen form of squeeze.dim; tests/tests/core_aten_ops.rs",
    ),
    (
        "aten::add_.Tensor",
        "in-place form of add.Tensor; tests/tests/basic_usage.rs",
    ),
    ("aten::sub_.Tensor", "in-place form of sub.Tensor"),
    ("aten::mul_.Tensor", "in-place form of mul.Tensor"),
    ("aten::div_.Tensor", "in-place form of div.Tensor"),
    (
        "aten::relu_.default",
        "in-place form of relu; the tutorial's MyModule",
    ),
    (
        "aten::index_put.default",
        "element writes in non-strict forward; tests/tests/non_strict.rs",
    ),
    (
        "aten::index_put_.default",
        "in-place form of index_put; tests/tests/non_strict.rs",
    ),
    (
        "aten::scalar_tensor.default",
        "symbolic-size predicates of cond!; tests/tests/control_flow.rs",
    ),
    (
        "aten::mean.default",
        "mean over all dims; tests/tests/basic_usage.rs",
    ),
    (
        "aten::randn.default",
        "random; tests/tests/basic_usage.rs checks moments",
    ),
    (
        "aten::rand.default",
        "random; tests/tests/basic_usage.rs checks range",
    ),
    (
        "aten::layer_norm.default",
        "composite of native_layer_norm (which has a case); tests/tests/ops_shape_nn.rs",
    ),
    (
        "aten::group_norm.default",
        "composite of native_group_norm (which has a case); tests/tests/ops_shape_nn.rs",
    ),
    (
        "aten::batch_norm.default",
        "composite of _native_batch_norm_legit_no_training; tests/tests/ops_shape_nn.rs",
    ),
    (
        "aten::softmax.int",
        "composite over _softmax (which has cases); tests/tests/ops_math.rs",
    ),
    (
        "aten::log_softmax.int",
        "composite over _log_softmax (which has cases); tests/tests/ops_math.rs",
    ),
    (
        "aten::item.default",
        "data-dependent scalar (unbacked u0); core/src/ops/scalar.rs, tests/tests/unbacked.rs",
    ),
    (
        "aten::new_zeros.default",
        "PyTorch-archive op (decomposes to full); tests/tests/pt2_unbacked.rs runs new_ones",
    ),
    (
        "aten::new_ones.default",
        "PyTorch-archive op (decomposes to full); tests/tests/pt2_unbacked.rs",
    ),
    (
        "aten::new_empty.default",
        "PyTorch-archive op (decomposes to full); tests/tests/pt2_unbacked.rs runs new_ones",
    ),
    (
        "aten::new_full.default",
        "PyTorch-archive op (decomposes to full); tests/tests/pt2_unbacked.rs runs new_ones",
    ),
    (
        "aten::slice_scatter.default",
        "write through a slice view; core/src/ops/scatter.rs unit tests, tests/tests/pt2_views.rs",
    ),
    (
        "aten::select_scatter.default",
        "write through a select view; core/src/ops/scatter.rs unit tests, tests/tests/pt2_views.rs",
    ),
    (
        "aten::_local_scalar_dense.default",
        "core ATen spelling of aten::item; core/src/ops/scalar.rs, tests/tests/unbacked.rs",
    ),
    (
        "aten::_assert_scalar.default",
        "run-time assertion of ferrex::check; core/src/ops/scalar.rs, tests/tests/unbacked.rs",
    ),
    (
        "aten::copy.default",
        "buffer replacement; core/src/ops/copy.rs, ExportDB model_attr_mutation",
    ),
    (
        "aten::copy_.default",
        "in-place form of aten::copy; core/src/ops/copy.rs",
    ),
    (
        "aten::nonzero.default",
        "data-dependent length (unbacked); core/src/ops/nonzero.rs, tests/tests/unbacked.rs",
    ),
    (
        "aten::masked_select.default",
        "data-dependent length (unbacked); core/src/ops/nonzero.rs, tests/tests/unbacked.rs",
    ),
    (
        "aten::contiguous.default",
        "default IR of PyTorch archives; checked against PyTorch in tests/tests/pt2_pytorch.rs (block.pt2)",
    ),
    (
        "aten::unflatten.int",
        "default IR of PyTorch archives; checked against PyTorch in tests/tests/pt2_pytorch.rs (block.pt2)",
    ),
    (
        "aten::dropout.default",
        "default IR of PyTorch archives (train=False: identity); tests/tests/pt2_pytorch.rs (tied.pt2)",
    ),
    (
        "aten::to.dtype",
        "default IR of PyTorch archives; checked against PyTorch in tests/tests/pt2_pytorch.rs (tied.pt2)",
    ),
    (
        "aten::detach_.default",
        "in-place form of aten::detach (`torch.tensor(c)` in forward); tests/data/pt2_ops/overloads.pt2, functionalized when read",
    ),
    (
        "aten::alias.default",
        "a view of the whole tensor (the identity); core/src/ops/shape.rs",
    ),
    (
        "aten::div.Scalar",
        "core IR overload of `x / 2.0` (PyTorch 2.15 writes div.Tensor); same kernel as div.Tensor with a wrapped number, tests/tests/pt2_ops.rs",
    ),
    (
        "aten::sub.Scalar",
        "core IR overload of `x - 2.0` (PyTorch 2.15 writes sub.Tensor); same kernel as sub.Tensor with a wrapped number, tests/tests/pt2_ops.rs",
    ),
    (
        "aten::rsub.Tensor",
        "`torch.rsub(x, y)`: sub.Tensor with the operands swapped; core/src/ops/elementwise.rs",
    ),
    (
        "aten::masked_fill.Tensor",
        "masked_fill with a 0-d tensor value: `where` of it; PyTorch's default IR of tests/data/pt2_ops/overloads writes masked_fill.Scalar",
    ),
    (
        "aten::where.Scalar",
        "`torch.where(c, 1.0, 0.0)`: where.self with wrapped numbers (PyTorch 2.15 writes scalar_tensor + where.self)",
    ),
    (
        "aten::where.ScalarSelf",
        "`torch.where(c, 2.0, x)`: where.self with a wrapped number (PyTorch 2.15 writes scalar_tensor + where.self)",
    ),
    (
        "aten::std.default",
        "`x.std()` of older exports (PyTorch 2.15 writes std.correction): var.correction + sqrt",
    ),
    (
        "aten::std_mean.correction",
        "`torch.std_mean` (PyTorch 2.15 decomposes it in its default IR): var.correction + sqrt, mean.dim",
    ),
    (
        "aten::argsort.stable",
        "`torch.argsort(x, stable=True)` (PyTorch 2.15 writes sort.stable): sort's indices",
    ),
    (
        "aten::count_nonzero.dim_IntList",
        "`torch.count_nonzero(x, dim=(0, 1))` (PyTorch 2.15 decomposes it to ne + sum): ne + sum.dim_IntList",
    ),
    (
        "aten::sym_size.int",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
    (
        "_operator::add.default",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
    (
        "_operator::sub.default",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
    (
        "_operator::mul.default",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
    (
        "_operator::floordiv.default",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
    (
        "_operator::mod.default",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
    (
        "_operator::eq.default",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
    (
        "_operator::ne.default",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
    (
        "_operator::lt.default",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
    (
        "_operator::le.default",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
    (
        "_operator::gt.default",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
    (
        "_operator::ge.default",
        "SymInt / SymBool value, read from its meta; core/src/ops/sym.rs, tests/tests/sym_values.rs",
    ),
];

/// The ops PyTorch's programs in `tests/data/pt2_ops/` and `tests/data/pt2_more/`
/// record (both IRs), which `tests/tests/pt2_ops.rs` and `pt2_more.rs` run against
/// PyTorch's values with both runners.
fn ops_of_pytorch_programs() -> std::collections::BTreeSet<String> {
    let mut ops = std::collections::BTreeSet::new();
    for corpus in ["data/pt2_ops", "data/pt2_more"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(corpus);
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "pt2") {
                ops.extend(ferrex::load(&path).unwrap().op_targets());
            }
        }
    }
    ops
}

#[test]
fn every_registered_op_has_a_case_or_is_internal() {
    let mut covered: std::collections::BTreeSet<String> = cases()
        .iter()
        .map(|c| c["op"].as_str().unwrap_or_default().to_string())
        .collect();
    covered.extend(ops_of_pytorch_programs());
    let is_covered = |n: &str| covered.contains(n) || WITHOUT_CASE.iter().any(|(w, _)| *w == n);
    // An in-place form (`hardtanh_`, from `ferrex::ops::inplace`) runs its functional op
    // (`inplace.rs` checks that it takes that op's arguments; pt2_more's `inplace`
    // program runs 30 of them against PyTorch): covered when its functional op is.
    let missing: Vec<String> = ferrex::ops::all_ops()
        .iter()
        .filter(|o| !is_covered(&o.name()) && !o.functional.is_some_and(|f| is_covered(&f.name())))
        .map(|o| o.name())
        .collect();
    assert!(
        missing.is_empty(),
        "registered ops with no PyTorch case and no stated reason: {missing:?}"
    );
}

#[test]
fn every_schema_parses() {
    for op in ferrex::ops::all_ops() {
        assert!(
            op.parsed().is_ok(),
            "{}: {:?}",
            op.schema,
            op.parsed().err()
        );
    }
}
