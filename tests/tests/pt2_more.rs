//! PyTorch 2.15 programs outside the reference corpus (`tests/data/pt2_more/`, written by
//! `gen_more.py`: `NAME.pt2` in the default IR, `NAME.core.pt2` after
//! `run_decompositions()`, `NAME.io.safetensors` with PyTorch's inputs `{P}in0…` and
//! outputs `{P}out0…` per input set `P`) load with `ferrex::load` and
//! `ferrex_runtime::load`, and both runners reproduce PyTorch's values within 1e-5.
//! (`gen_more.py`'s `kvcache` and `inplace_view`, in-place writes through views, are in
//! `tests/data/pt2_views/` with their own test.)

use std::collections::BTreeSet;

mod common;

use common::pt2_corpus::{inputs, prefixes, series, Corpus, Runner, ATOL};
use common::pt2_io::{leaves, max_diff};
use ferrex::{ExportedProgram, Tensor};

fn corpus() -> Corpus {
    Corpus::new("pt2_more")
}

fn check_all(runner: Runner, core: bool) {
    let checked = corpus().check_all(runner, core);
    assert_eq!(checked.len(), 56, "{checked:?}");
}

#[test]
fn default_ir_runs_in_the_interpreter() {
    check_all(Runner::Interpreter, false);
}

#[test]
fn default_ir_runs_compiled() {
    check_all(Runner::Compiled, false);
}

#[test]
fn core_ir_runs_in_the_interpreter() {
    check_all(Runner::Interpreter, true);
}

#[test]
fn core_ir_runs_compiled() {
    check_all(Runner::Compiled, true);
}

/// Programs whose core op set from ferrex's `run_decompositions()` differs from
/// PyTorch's, and why (the values agree: checked below).
const CORE_OP_DIFFERENCES: &[(&str, &str)] = &[
    ("chunky", "`contiguous` is not decomposed (PyTorch: `clone`)"),
    ("encoder", "`contiguous`, `dropout` and `unflatten` are not decomposed"),
    ("padded_encoder", "as `encoder`; the padding mask's `zeros_like` is kept (PyTorch: `full_like`)"),
    ("gru", "the input projection is a 3-D `linear` (`view` + `addmm`); PyTorch's decomposition reaches `bmm` through `matmul` (`expand` + `bmm`)"),
    ("lstm", "as `gru`"),
    ("lstm_bi", "as `gru`"),
    ("lstm_proj", "as `gru`"),
    ("take_addr", "`addr`'s vectors become a column and a row by `unsqueeze` (PyTorch: `view`)"),
    ("gru_bi", "as `gru`"),
    ("rnn_tanh", "as `gru`"),
    ("rnn_relu", "as `gru`"),
    ("masked_attn", "ferrex's tensors are contiguous: no `clone` before a `view`; `squeeze.dims` not recorded"),
    ("mobile", "`adaptive_avg_pool2d` and `hardswish` are kept whole"),
    ("losses", "the composites are written in tensor ops (`index_select` of the class weights, `log_sigmoid`, number operands as tensors); PyTorch's decompositions use `full`, `minimum`, `isnan`, `ne`, `_to_copy` and the `.Scalar` overloads"),
    ("losses2", "as `losses`: the composites are written in tensor ops (`index_select` of `multi_margin_loss`'s class weights, `reshape` to frames, number operands as tensors; PyTorch: `index.Tensor`, `.Scalar` overloads, `empty_permuted` + `full_like` for `1 - x`, `pow`); the lifted target constants keep `lift_fresh_copy` + `detach` (PyTorch: `clone`)"),
    ("patches", "ferrex's tensors are contiguous: no `clone` before `im2col`'s `view`"),
    ("adaptive_max", "`adaptive_avg_pool2d` is kept whole (as in `mobile`; PyTorch: `_adaptive_avg_pool2d`)"),
    ("inplace", "`hardsigmoid`, `hardswish`, `mish`, `clamp_min` and `dropout` are kept whole; `fill_` / `zero_` become `fill.Scalar` / `zero` (PyTorch: `full_like`)"),
    ("pads", "reflect, replicate and circular pads are one `index_select` per dim of indices made by `arange`, `cat` and `expand` (PyTorch: `abs`/`sub`/`clamp` indices read by `index.Tensor`; `empty` + `slice_scatter` for circular)"),
    ("pixel_shuffle", "ferrex's tensors are contiguous: the reshape after the permute is a `view`, without PyTorch's `clone`"),
    ("stack", "`stack` is kept whole (PyTorch: `cat` + `view`)"),
    ("extras", "`logit` clamps with `clamp` and writes `1 - x` as `neg` + `add` (PyTorch: `lt` / `gt` + `where` of `scalar_tensor`s, `sub`); `outer` and weight norm keep dims with `unsqueeze` / `sum(keepdim=True)` (PyTorch: `view`)"),
    ("ordering", "`quantile` reads its ranks (constants of the sizes) with `select` and `lerp.Scalar` from `topk`'s sort (PyTorch: the ranks as tensors, `floor` / `ceil` / `round`, `gather`, `sort`)"),
    ("same_pad", "the index tensors made in `forward` (`torch.tensor([0, 3])`) keep their `lift_fresh_copy` and `detach` (PyTorch's decomposition drops them)"),
    ("special", "eval `rrelu` is a `leaky_relu` (PyTorch: `rrelu_with_noise_functional` of an `empty` noise); NaN tests are `ne(x, x)` (PyTorch: `isnan`); `renorm`'s norm is `pow` / `sum` / `sqrt` as `linalg_vector_norm` decomposes (PyTorch: `pow.Tensor_Scalar` for every p); the `torch.tensor` operand keeps `lift_fresh_copy` / `detach`"),
    ("linalg2", "`cartesian_prod`'s `stack` is kept whole (as in `stack`; PyTorch: `unsqueeze` + `cat`); `trace`'s `diagonal` is decomposed (PyTorch keeps it, then `clone`s it)"),
    ("resample", "trilinear interpolation is `upsample_bilinear2d` per depth plane then `upsample_bilinear2d` of height 1 along the depth (PyTorch: its taps in `index`, `sub`, `mul`, `add`); nearest-exact's indices are `floor`ed (PyTorch: truncated by `_to_copy`, the same for these non-negative values)"),
    ("retrieval", "`sort` is a `topk` of every element (PyTorch keeps `sort`); `F.normalize`'s norm is the `sqrt` of a sum of squares, floored by `clamp_min` (PyTorch: `pow.Tensor_Scalar`, `clamp`)"),
    ("stylize", "as `pads`: the reflect and replicate pads are one `index_select` per dim of indices made by `arange`, `cat` and `expand` (PyTorch: `abs`/`sub`/`clamp` indices read by `index.Tensor`)"),
    ("windows", "`roll` is kept whole (PyTorch: `index_select` by `fmod` of `arange` per dim); `unbind` of the stacked q, k, v is `select` (PyTorch: `slice` + `squeeze.dims`); ferrex's tensors are contiguous: no `clone` before a `view`"),
    ("spatial", "`upsample_bicubic2d.vec` is kept whole (PyTorch: its taps in `floor`, `clamp`, `index`, `slice`, `squeeze` and pointwise ops)"),
];

/// ferrex's `run_decompositions()` of PyTorch's default-IR program gives the op set of
/// PyTorch's core-IR program (but for [`CORE_OP_DIFFERENCES`]), and PyTorch's values.
#[test]
fn run_decompositions_gives_pytorch_core_ops() {
    let corpus = corpus();
    for name in corpus.names() {
        let dir = &corpus.0;
        let ours = ferrex::load(dir.join(format!("{name}.pt2")))
            .unwrap()
            .run_decompositions()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let theirs = ferrex::load(dir.join(format!("{name}.core.pt2"))).unwrap();
        let set =
            |ep: &ExportedProgram| -> BTreeSet<String> { ep.op_targets().into_iter().collect() };
        let known = CORE_OP_DIFFERENCES.iter().any(|(n, _)| *n == name);
        assert_eq!(
            set(&ours) == set(&theirs),
            !known,
            "{name}: core op sets (ours {:?}, PyTorch's {:?})",
            set(&ours),
            set(&theirs)
        );
        let io = corpus.io(&name);
        let tensors: Vec<Tensor> = series(&io, "", "in")
            .into_iter()
            .map(Tensor::copy)
            .collect();
        let inputs = leaves(&ours, &tensors);
        let outs = ours.module().call_flat(&inputs).unwrap();
        let want = series(&io, "", "out");
        assert_eq!(outs.len(), want.len(), "{name}: decomposed outputs");
        for (i, (g, w)) in outs.iter().zip(want).enumerate() {
            let d = max_diff(g, w, &format!("{name} decomposed out{i}"));
            assert!(d <= ATOL, "{name}: decomposed out{i} differs by {d}");
        }
    }
}

/// The core IR of a causal attention with a dynamic length builds its mask from
/// `arange(0, t)` (`full`, `arange`, `sub`, `le`, `logical_and`): calls of sizes alone,
/// which the plan runs once per length and keeps; the `where` that applies the kept
/// mask is fused into the scores' `add`. Alternating lengths give PyTorch's values each
/// time (the kept mask is the one of the call's own length).
#[test]
fn a_causal_mask_is_computed_once_per_sequence_length() {
    let file = corpus().file("causal_dyn", true);
    let compiled = ferrex_runtime::load(&file).unwrap();
    let describe = compiled.describe();
    assert!(
        describe.ends_with(
            "computed once per input size: 8 (aten::full.default ×1, aten::arange.start_step ×2, \
             aten::unsqueeze.default ×2, aten::sub.Tensor ×1, aten::le.Scalar ×1, \
             aten::logical_and.default ×1)\neager fallbacks: none\n"
        ),
        "{describe}"
    );
    assert!(describe.contains("arange: eager aten::arange.start_step, kept per input size\n"));
    assert!(
        describe.contains("add: fused where+add -> slot"),
        "{describe}"
    );
    let stats = compiled.stats();
    assert_eq!((stats.per_size_ops.len(), stats.fallback_ops.len()), (8, 0));
    let ep: ExportedProgram = ferrex::load(&file).unwrap();
    let io = corpus().io("causal_dyn");
    for prefix in ["", "b_", "", "b_", "b_"] {
        let inputs = inputs(&io, prefix);
        let out = compiled.call_flat(&leaves(&ep, &inputs)).unwrap();
        let want = series(&io, prefix, "out");
        let d = max_diff(&out[0], want[0], &format!("causal_dyn set `{prefix}`"));
        assert!(d <= ATOL, "set `{prefix}`: differs by {d}");
    }
}

/// PyTorch's core IR of `nn.TransformerEncoderLayer` projects its transposed input with
/// `bmm(x, view(expand(w.T, [t, 16, 48])))` (the weight broadcast over the sequence,
/// whose length is dynamic): the plan runs it as one GEMM of the prepacked weight, and
/// the weight's `expand` and `view` get no step (materialized, they were `t` copies of
/// it). The `expand`s to their own sizes before the attention's `bmm`s are their inputs.
#[test]
fn a_bmm_of_a_broadcast_weight_is_one_prepacked_gemm() {
    let compiled = ferrex_runtime::load(corpus().file("encoder", true)).unwrap();
    let d = compiled.describe();
    assert!(d.contains("\nbmm: gemm, prepacked weight -> "), "{d}");
    assert!(
        !d.contains("\nexpand_1:") && !d.contains("\nview_1:"),
        "{d}"
    );
    for expand in ["expand_2", "expand_3", "expand_4", "expand_5"] {
        assert!(
            d.contains(&format!("\n{expand}: reshape (no copy) -> ")),
            "{d}"
        );
    }
}

/// The core IR of `nn.GRU` and `nn.LSTM` runs their steps over `[T, B, ..]` (the batch
/// at dim 1) from zero initial states `[1, B, H]`; the core IR of a masked attention softmaxes and
/// reduces values whose batch is not first; `nn.TransformerEncoderLayer` (batch first,
/// a dynamic length `s`) projects its attention's output as `[s * B, E]` rows, and its
/// core IR its feed-forward input as `[B * s, E]` (`s` rows per sample): the
/// compiled plan still splits their calls
/// along the batch (each half its own recurrence, reading a half's slice of the zeros)
/// and gives the whole call's bits.
#[test]
fn programs_that_move_their_batch_split_with_the_same_bits() {
    let corpus = corpus();
    for (name, core) in [
        ("gru", true),
        ("lstm", true),
        ("masked_attn", false),
        ("masked_attn", true),
        ("encoder", false),
        ("encoder", true),
    ] {
        let file = corpus.file(name, core);
        let compiled = ferrex_runtime::load(&file).unwrap();
        assert_eq!(compiled.batch_split(), Ok(()), "{name} core {core}");
        let ep: ExportedProgram = ferrex::load(&file).unwrap();
        let io = corpus.io(name);
        // Every input set (the encoder's has two sequence lengths).
        for prefix in prefixes(&io) {
            let inputs = inputs(&io, &prefix);
            let bits = |mode| -> Vec<u32> {
                compiled.set_batch_split(mode);
                let out = compiled.call_flat(&leaves(&ep, &inputs)).unwrap();
                let want = series(&io, &prefix, "out");
                assert_eq!(out.len(), want.len());
                for (got, want) in out.iter().zip(want) {
                    let d = max_diff(got, want, name);
                    assert!(
                        d <= ATOL,
                        "{name} core {core} `{prefix}` ({mode:?}): by {d}"
                    );
                }
                (out.iter().flat_map(|t| t.to_vec::<f32>().unwrap()))
                    .map(f32::to_bits)
                    .collect()
            };
            let whole = bits(ferrex_runtime::BatchSplit::Never);
            let split = bits(ferrex_runtime::BatchSplit::Always);
            assert_eq!(split, whole, "{name} core {core} `{prefix}`");
        }
    }
}

/// The interpreter runs an LSTM's or a GRU's steps through one fused cell kernel
/// (`ferrex_kernels::rnn`, bit for bit the cell's ops one by one, tested there):
/// PyTorch's values, and within a few ulp of the program after `run_decompositions`,
/// whose steps are separate nodes. (Not its bits: the layer's products run on other
/// operand layouts there, with or without the fused cell.)
#[test]
fn eager_recurrent_cells_give_pytorchs_values() {
    let corpus = corpus();
    for (name, node) in [("lstm", "lstm"), ("gru", "gru"), ("lstm_proj", "lstm")] {
        recurrent_cells_agree(&corpus, name, node);
    }
}

fn recurrent_cells_agree(corpus: &Corpus, name: &str, node: &str) {
    let file = corpus.file(name, false);
    let ep: ExportedProgram = ferrex::load(&file).unwrap();
    let decomposed = ep.run_decompositions().unwrap();
    assert!(
        decomposed
            .graph()
            .nodes
            .iter()
            .filter_map(|n| n.op())
            .all(|op| !op.name().contains(node)),
        "the decomposed program has no {node} node"
    );
    let io = corpus.io(name);
    for prefix in prefixes(&io) {
        let inputs = inputs(&io, &prefix);
        let fused = ep.module().call_flat(&leaves(&ep, &inputs)).unwrap();
        let ops = (decomposed.module())
            .call_flat(&leaves(&decomposed, &inputs))
            .unwrap();
        assert_eq!(fused.len(), ops.len());
        for ((f, o), want) in fused.iter().zip(&ops).zip(series(&io, &prefix, "out")) {
            assert!(max_diff(f, want, name) <= ATOL, "{name} `{prefix}`");
            assert!(max_diff(f, o, name) <= 1e-6, "{name} `{prefix}`");
            assert_eq!(f.shape(), o.shape());
        }
    }
}

/// The compiled plan of `nn.GRU` / `nn.LSTM` / `nn.RNN` (PyTorch's default IR, one
/// `gru.input` / `lstm.input` / `rnn_tanh.input` / `rnn_relu.input` node; one layer or
/// two, bidirectional or not, batch first or time-major, a
/// dynamic batch down to 1, a given initial state; LSTMs with projections, with and
/// without biases, two in one program) runs each op as one recurrent step: the
/// interpreter's layer kernel (`ferrex::ops::rnn::recurrent_layers`), so the
/// interpreter's bits and PyTorch's values, every output, with no eager fallback. Its
/// calls run whole: the kernel splits the batch over the threads itself.
#[test]
fn compiled_recurrent_layers_are_one_step_with_the_interpreters_bits() {
    let corpus = corpus();
    for (name, node, label) in [
        ("gru", "gru", "1 GRU layer, batch first"),
        ("lstm", "lstm", "1 LSTM layer, batch first"),
        (
            "lstm_bi",
            "lstm",
            "2 LSTM layers, bidirectional, batch first",
        ),
        ("gru_bi", "gru", "2 GRU layers, bidirectional"),
        ("rnn_tanh", "rnn_tanh", "2 RNN (tanh) layers, batch first"),
        ("rnn_relu", "rnn_relu", "1 RNN (relu) layer, bidirectional"),
        (
            "lstm_proj",
            "lstm",
            "2 LSTM layers, bidirectional, batch first, projected",
        ),
    ] {
        let file = corpus.file(name, false);
        let compiled = ferrex_runtime::load(&file).unwrap();
        let d = compiled.describe();
        let stats = compiled.stats();
        let layers = if name == "lstm_proj" { 2 } else { 1 };
        assert_eq!(
            (stats.recurrent, stats.fallback_ops.len()),
            (layers, 0),
            "{d}"
        );
        let step = format!("{node}: {label} (layer kernel: packed product + fused cell per step)");
        assert!(d.contains(&step), "{d}");
        // (The dynamic batch's zero states refuse first.)
        let refusal = compiled.batch_split().unwrap_err();
        let why = ferrex::ops::rnn::WHY_CALLS_RUN_WHOLE;
        assert!(refusal.contains(why) || name == "lstm_bi", "{refusal}");
        let ep: ExportedProgram = ferrex::load(&file).unwrap();
        let io = corpus.io(name);
        for prefix in prefixes(&io) {
            let inputs = inputs(&io, &prefix);
            let got = compiled.call_flat(&leaves(&ep, &inputs)).unwrap();
            let interpreted = ep.module().call_flat(&leaves(&ep, &inputs)).unwrap();
            let want = series(&io, &prefix, "out");
            assert_eq!(got.len(), want.len());
            for ((g, i), w) in got.iter().zip(&interpreted).zip(want) {
                assert!(max_diff(g, w, name) <= ATOL, "{name} `{prefix}`");
                assert_eq!(g.shape(), i.shape());
                assert_eq!(g.to_vec::<f32>().unwrap(), i.to_vec::<f32>().unwrap());
            }
        }
    }
}

/// Programs of the shapes of models nobody named run compiled without a fallback in
/// both IRs: shifted-window attention (`roll`, a relative position table gathered by an
/// index buffer), a style-transfer block (reflection and replicate padding, instance
/// norm) and a retrieval head (`x.T`, `argmax`, `topk`, `cumsum`, `sort`). Where their
/// calls split along the batch, split and whole calls give the same bits and PyTorch's
/// values.
#[test]
fn unseen_model_shapes_run_compiled_without_fallbacks() {
    let corpus = corpus();
    for (name, core, splits) in [
        ("windows", false, true),
        ("windows", true, true),
        ("stylize", false, true),
        // Its instance norm normalizes a `[1, N * C, H, W]` view.
        ("stylize", true, false),
        // `e @ e.T` multiplies samples by samples.
        ("retrieval", false, false),
        ("retrieval", true, false),
    ] {
        let file = corpus.file(name, core);
        let compiled = ferrex_runtime::load(&file).unwrap();
        let describe = compiled.describe();
        assert!(
            describe.ends_with("eager fallbacks: none\n"),
            "{name} core {core}: {describe}"
        );
        assert_eq!(
            compiled.batch_split().is_ok(),
            splits,
            "{name} core {core}: {describe}"
        );
        if !splits {
            continue;
        }
        let ep: ExportedProgram = ferrex::load(&file).unwrap();
        let io = corpus.io(name);
        let inputs = inputs(&io, "");
        let bits = |mode| -> Vec<u32> {
            compiled.set_batch_split(mode);
            let out = compiled.call_flat(&leaves(&ep, &inputs)).unwrap();
            for (got, want) in out.iter().zip(series(&io, "", "out")) {
                assert!(
                    max_diff(got, want, name) <= ATOL,
                    "{name} core {core} ({mode:?})"
                );
            }
            (out.iter().flat_map(|t| t.to_vec::<f32>().unwrap()))
                .map(f32::to_bits)
                .collect()
        };
        let whole = bits(ferrex_runtime::BatchSplit::Never);
        assert_eq!(
            bits(ferrex_runtime::BatchSplit::Always),
            whole,
            "{name} core {core}"
        );
    }
}
