//! Op cases: calls of the public `Tensor` API with hostile arguments — dims out of
//! range, 0-dim, empty and failed tensors, huge and negative sizes, i64 extremes — run
//! eagerly, and inside a model that is exported and then run with both runners.

use ferrex::prelude::*;
use ferrex::Exporter;

use super::rng::Rng;
use super::Outcome;

/// Values for dims, indices and counts.
const INTS: [i64; 16] = [
    -3,
    -2,
    -1,
    0,
    1,
    2,
    3,
    4,
    7,
    i64::MIN,
    i64::MAX,
    1 << 31,
    1 << 40,
    1 << 62,
    -(1 << 40),
    65_536,
];

/// The tensors a call starts from.
const INPUTS: [&str; 9] = [
    "0-dim f32",
    "empty f32[0, 3]",
    "f32[2, 3]",
    "f32[2, 3, 4, 5]",
    "f32[1, 1]",
    "i64[5]",
    "bool[2, 3]",
    "a failed tensor",
    "f32[3, 0, 2]",
];

/// One generated call: the op, the input and the integer arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct OpCall {
    pub op: usize,
    pub input: usize,
    pub ints: [i64; 4],
    /// How many of `ints` form the sizes argument (`expand`, `zeros`, …).
    pub n_sizes: usize,
}

pub const OPS: [&str; 38] = [
    "size",
    "sum_dim",
    "mean_dim",
    "roll",
    "chunk",
    "narrow",
    "expand",
    "repeat",
    "pad",
    "reshape",
    "view",
    "permute",
    "transpose",
    "unsqueeze",
    "squeeze_dim",
    "flatten",
    "select",
    "split",
    "matmul",
    "softmax",
    "cumsum",
    "argmax",
    "index_select",
    "gather",
    "conv2d",
    "max_pool2d",
    "upsample_nearest2d",
    "zeros",
    "full",
    "cat",
    "flip",
    "tril",
    "amax",
    "add_broadcast",
    "to_vec_i64",
    "arange",
    "eye",
    "sub_bool",
];

impl OpCall {
    pub fn generate(rng: &mut Rng) -> OpCall {
        let mut ints = [0; 4];
        for v in &mut ints {
            // Small values most of the time, so that calls reach past argument checks.
            *v = if rng.one_in(3) {
                *rng.pick(&INTS).unwrap_or(&0)
            } else {
                rng.below(5) as i64 - 1
            };
        }
        OpCall {
            op: rng.below(OPS.len()),
            input: rng.below(INPUTS.len()),
            ints,
            n_sizes: 1 + rng.below(4),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{}({}, ints {:?}, {} sizes)",
            OPS.get(self.op).unwrap_or(&"?"),
            INPUTS.get(self.input).unwrap_or(&"?"),
            self.ints,
            self.n_sizes
        )
    }

    fn input_tensor(&self) -> Tensor {
        match self.input {
            0 => Tensor::scalar_tensor(1.5, DType::F32),
            1 => Tensor::zeros([0, 3]),
            2 => Tensor::randn([2, 3]),
            3 => Tensor::randn([2, 3, 4, 5]),
            4 => Tensor::ones([1, 1]),
            5 => Tensor::arange(5),
            6 => Tensor::randn([2, 3]).gt(0.0),
            7 => Tensor::ones([2, 3]) + Tensor::ones([4]),
            _ => Tensor::zeros([3, 0, 2]),
        }
    }

    fn sizes(&self) -> Vec<i64> {
        self.ints[..self.n_sizes.min(4)].to_vec()
    }

    /// Whether an exported program can hold the call (it is not a read of sizes or data).
    fn exportable(&self) -> bool {
        !matches!(self.op, 0 | 34)
    }

    /// Runs the call on `x`; the results, and whether the op is one an exported program
    /// can hold.
    #[allow(clippy::too_many_lines)] // one arm per op, each one line
    pub fn apply(&self, x: &Tensor) -> (Vec<Tensor>, bool) {
        let [a, b, c, _] = self.ints;
        let sizes = self.sizes();
        let one = |t: Tensor| (vec![t], true);
        match self.op {
            0 => {
                let _ = x.size(a);
                (Vec::new(), false)
            }
            1 => one(x.sum_dim(&[a], b > 0)),
            2 => one(x.mean_dim(&[a], b > 0)),
            3 => one(x.roll(&[b], &[a])),
            4 => (x.chunk(b, a), true),
            5 => one(x.narrow(a, b, c)),
            6 => one(x.expand(sizes)),
            7 => one(x.repeat(sizes)),
            8 => one(x.pad(sizes, 0.0)),
            9 => one(x.reshape(sizes)),
            10 => one(x.view(sizes)),
            11 => one(x.permute(&sizes)),
            12 => one(x.transpose(a, b)),
            13 => one(x.unsqueeze(a)),
            14 => one(x.squeeze_dim(a)),
            15 => one(x.flatten(a, b)),
            16 => one(x.select(a, b)),
            17 => (x.split(b, a), true),
            18 => one(x.matmul(&Tensor::ones(sizes))),
            19 => one(x.softmax(a)),
            20 => one(x.cumsum(a)),
            21 => one(x.argmax(Some(a), b > 0)),
            22 => one(x.index_select(a, &Tensor::full([2], b).to_dtype(DType::I64))),
            23 => one(x.gather(a, &Tensor::full([1, 1], b).to_dtype(DType::I64))),
            24 => {
                let w = Tensor::ones([1, 1, 1, 1]);
                one(x.conv2d(&w, None, &[1, 1], &[b, b], &[c, c], 1))
            }
            25 => one(x.max_pool2d(&[a, a], &[], &[b, b], &[c.max(1), 1], false)),
            26 => one(x.upsample_nearest2d(Some(&[a, b]), None)),
            27 => one(Tensor::zeros(sizes)),
            28 => one(Tensor::full(sizes, 1.0)),
            29 => one(Tensor::cat(&[x.clone(), x.clone()], a)),
            30 => one(x.flip(&[a])),
            31 => one(x.tril(a)),
            32 => one(x.amax(&[a], b > 0)),
            33 => one(x.add(Tensor::ones(sizes))),
            34 => {
                let _ = x.to_vec::<i64>();
                let _ = x.item::<i64>();
                (Vec::new(), false)
            }
            35 => one(Tensor::arange(a)),
            36 => one(Tensor::eye(a)),
            _ => {
                let m = x.gt(0.0);
                one(m.sub(&m))
            }
        }
    }
}

/// Reads every result to the end: shape, and data (which returns any error).
fn consume(results: &[Tensor]) {
    for t in results {
        let _ = t.shape();
        let _ = t.dtype();
        let _ = t.to_vec::<f64>();
    }
}

/// The call run eagerly.
pub fn run_eager(call: &OpCall) -> Outcome {
    let (results, _) = call.apply(&call.input_tensor());
    consume(&results);
    match results.iter().find_map(|t| t.to_vec::<f64>().err()) {
        Some(e) => Outcome::Error(e.to_string()),
        None => Outcome::Ran,
    }
}

/// A model whose forward is one generated call.
#[export_module]
struct OneCall {
    call: OpCall,
}

#[export_module(strict = false)]
impl OneCall {
    fn forward(&self, x: &Tensor) -> Tensor {
        let (results, _) = self.call.apply(x);
        results.into_iter().next().unwrap_or_else(|| x.clone())
    }
}

/// The call exported as a model, then run by both runners on the same input.
pub fn run_exported(call: &OpCall) -> Outcome {
    if !call.exportable() {
        return Outcome::Skipped("the op reads data or sizes".into());
    }
    let model = OneCall { call: call.clone() };
    let x = call.input_tensor();
    let ep = match Exporter::new(&model, (x.copy(),)).run() {
        Ok(ep) => ep,
        Err(e) => return Outcome::Error(e.to_string()),
    };
    let leaves = ep.flatten_inputs((x,));
    super::compare_runners(&ep, &ep, &leaves)
}
