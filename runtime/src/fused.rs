//! Fused elementwise chains: a small register program evaluated over the output in
//! chunks of [`CHUNK`] elements, so a chain like `add → mul → gelu` makes one pass over
//! memory and no intermediate tensors. Inputs broadcast to the output shape.

use ferrex_kernels::threads::{for_each_item_chunk, num_threads};

/// Elements per register: the most a chunk holds. Each chunk costs a fixed ~100 ns of
/// dispatch (the program's steps and loads), so longer chunks pay: a batch norm + ReLU
/// over `[4, 32, 1981]` took 154 µs in chunks of 256 and 83 µs in chunks of 1024 (two
/// eager passes: 66 µs). Programs of many registers take shorter ones
/// ([`FusedProgram::chunk_cap`]), so that their registers stay in L1.
pub const CHUNK: usize = 1024;

/// The bytes of registers a program's chunks may span (L1 is 32 KiB on the machines
/// measured; the inputs and output stream through beside them).
const REGS_BUDGET: usize = 24 << 10;

/// Outputs smaller than this run on one thread.
use ferrex_kernels::threads::PAR_MIN_POINTWISE as PAR_MIN_ELEMS;

/// The same bound for an in-place epilogue, whose data a convolution has just written
/// split over the pool by samples: split alike, each core reads what it wrote (LeNet's
/// first convolution, 27.6K outputs, gained a quarter of its time at 2 threads).
const PAR_MIN_EPILOGUE: usize = 1 << 13;

/// The pointwise functions and binary arithmetic a chain runs: the ones the ops' lowering
/// hooks name, evaluated by the same `ferrex_kernels::pointwise` code as the eager kernels.
pub use ferrex_kernels::pointwise::{Binary as BinOp, Unary as UnOp};

/// A step of a chain on the output ([`FusedProgram::output_chain`]): `y = y op x` (or
/// `x op y` when `x_first`), ReLU of `y`, or another function of `y`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChainStep {
    Binary {
        op: BinOp,
        x: ChainOperand,
        x_first: bool,
    },
    Relu,
    Unary(UnOp),
}

/// A chain step's other operand: one of the program's inputs, or a constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChainOperand {
    Input(usize),
    Const(f32),
}

/// An operand: a register or a constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Src {
    Reg(usize),
    Const(f32),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Instr {
    /// Register `dst` = the chunk of input `input`, broadcast to the output.
    Load {
        dst: usize,
        input: usize,
    },
    /// Register `dst` = the chunk of the output buffer itself (an in-place epilogue).
    LoadOut {
        dst: usize,
    },
    Unary {
        dst: usize,
        op: UnOp,
        a: usize,
    },
    Binary {
        dst: usize,
        op: BinOp,
        a: Src,
        b: Src,
    },
    /// Register `dst` = `a` where register `cond` is nonzero, else `b` (`where`, its
    /// bool condition loaded as 1 or 0).
    Select {
        dst: usize,
        cond: usize,
        a: Src,
        b: Src,
    },
}

/// A fused chain: `instrs` compute register `out` from the inputs.
#[derive(Clone, Debug, Default)]
pub struct FusedProgram {
    pub instrs: Vec<Instr>,
    pub n_regs: usize,
    pub out: usize,
    /// The ops, for the plan's description (`add+relu`).
    pub label: String,
}

/// Register `dst` = `op(a)` over a chunk of `n`, where `a` holds `source`; what `dst`
/// holds then.
fn unary_step(
    op: UnOp,
    source: Held,
    a: usize,
    dst: usize,
    inputs: &[Input],
    regs: &mut [[f32; CHUNK]],
    n: usize,
) -> Held {
    let (dst_reg, others) = OtherRegs::split(regs, dst);
    match source {
        Held::Const(c) => {
            let mut v = [0f32];
            unary(op, &[c], &mut v);
            Held::Const(v[0])
        }
        Held::Values if others.get(a, n).is_none() => {
            op.apply_f32_in_place(&mut dst_reg[..n]);
            Held::Values
        }
        held => {
            unary_into(
                op,
                held.operand(inputs, others.get(a, n), n),
                &mut dst_reg[..n],
            );
            Held::Values
        }
    }
}

/// A copy of register `dst`'s `n` values when the step writing it also reads it (a
/// source that is the register written is read from the copy; copied only then: a
/// register is 4 KiB).
fn copy_if_read(dst_reg: &[f32; CHUNK], n: usize, reads_dst: bool) -> Option<[f32; CHUNK]> {
    reads_dst.then(|| {
        let mut c = [0f32; CHUNK];
        c[..n].copy_from_slice(&dst_reg[..n]);
        c
    })
}

/// Register `dst` = `op(a, b)` over a chunk of `n`; what `dst` holds then (a constant
/// when both operands are).
fn binary_step(
    op: BinOp,
    [a, b]: [Src; 2],
    dst: usize,
    held: &[Held],
    inputs: &[Input],
    regs: &mut [[f32; CHUNK]],
    n: usize,
) -> Held {
    let (dst_reg, others) = OtherRegs::split(regs, dst);
    let reads_dst = |s: Src| s == Src::Reg(dst) && held[dst] == Held::Values;
    let copied = copy_if_read(dst_reg, n, reads_dst(a) || reads_dst(b));
    let copy = copied.as_ref().map(|c| &c[..n]);
    let operand = |s: Src| match s {
        Src::Const(c) => Operand::Const(c),
        // `others` lacks only `dst`, whose copy exists then.
        Src::Reg(r) => held[r].operand(inputs, others.get(r, n).or(copy), n),
    };
    let (x, y) = (operand(a), operand(b));
    match (x, y) {
        (Operand::Const(_), Operand::Const(_)) => {
            let mut v = [0f32];
            binary(op, x, y, &mut v);
            Held::Const(v[0])
        }
        _ => {
            binary(op, x, y, &mut dst_reg[..n]);
            Held::Values
        }
    }
}

/// The elements of a bool or integer operand as a fused program loads them (its
/// inputs are f32): converted as `to(float32)` converts them, so a `where`'s condition
/// is 1 or 0 and a cast of a mask reads as the eager cast writes. The compiled runtime
/// and generated code both convert with it.
pub fn as_f32<T: ferrex::tensor::Element>(xs: impl IntoIterator<Item = T>) -> Vec<f32> {
    (xs.into_iter())
        .map(ferrex::tensor::convert::<T, f32>)
        .collect()
}

/// Register `dst` = `cond ? a : b` over a chunk of `n`; what `dst` holds then (a
/// constant when the condition is one and picks a constant).
fn select_step(
    cond: usize,
    [a, b]: [Src; 2],
    dst: usize,
    held: &[Held],
    inputs: &[Input],
    regs: &mut [[f32; CHUNK]],
    n: usize,
) -> Held {
    let (dst_reg, others) = OtherRegs::split(regs, dst);
    let reads_dst = |r: usize| r == dst && held[dst] == Held::Values;
    let reads_dst_src = |s: Src| matches!(s, Src::Reg(r) if reads_dst(r));
    let copied = copy_if_read(
        dst_reg,
        n,
        reads_dst(cond) || reads_dst_src(a) || reads_dst_src(b),
    );
    let copy = copied.as_ref().map(|c| &c[..n]);
    let reg = |r: usize| held[r].operand(inputs, others.get(r, n).or(copy), n);
    let src = |s: Src| match s {
        Src::Const(c) => Operand::Const(c),
        Src::Reg(r) => reg(r),
    };
    match (reg(cond), src(a), src(b)) {
        (Operand::Const(c), Operand::Const(x), _) if c != 0.0 => Held::Const(x),
        (Operand::Const(0.0), _, Operand::Const(y)) => Held::Const(y),
        (c, x, y) => {
            select(c, x, y, &mut dst_reg[..n]);
            Held::Values
        }
    }
}

/// How an input is read for each output element.
#[derive(Clone, Debug)]
pub enum Access {
    /// Same number of elements in the same order.
    Same,
    /// One element for all.
    Scalar,
    /// Broadcast: the output's dims and, per dim, the input's stride (0 where
    /// broadcast), collapsed ([`collapse`]) once here rather than per chunk read.
    Strided { sizes: Dims, steps: Dims },
}

/// Sizes or strides: up to [`INLINE_DIMS`] held inline, so that broadcasting an input
/// of an ordinary rank allocates nothing (generated code's `forward` allocates nothing).
#[derive(Clone, Debug)]
pub enum Dims {
    Inline([usize; INLINE_DIMS], usize),
    Heap(Vec<usize>),
}

/// Dims held without allocating.
pub const INLINE_DIMS: usize = 8;

impl Dims {
    /// `n` zeros.
    pub fn zeros(n: usize) -> Dims {
        match n <= INLINE_DIMS {
            true => Dims::Inline([0; INLINE_DIMS], n),
            false => Dims::Heap(vec![0; n]),
        }
    }
}

impl Dims {
    /// The first `n` dims (`n` at most the current length).
    fn truncated(self, n: usize) -> Dims {
        match self {
            Dims::Inline(a, len) => Dims::Inline(a, n.min(len)),
            Dims::Heap(mut v) => {
                v.truncate(n);
                Dims::Heap(v)
            }
        }
    }
}

impl std::ops::Deref for Dims {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        match self {
            Dims::Inline(a, n) => &a[..*n],
            Dims::Heap(v) => v,
        }
    }
}

impl std::ops::DerefMut for Dims {
    fn deref_mut(&mut self) -> &mut [usize] {
        match self {
            Dims::Inline(a, n) => &mut a[..*n],
            Dims::Heap(v) => v,
        }
    }
}

impl Access {
    /// How an input of `shape` (contiguous) broadcasts to `out`; `None` if it does not.
    pub fn of(shape: &[usize], out: &[usize]) -> Option<Access> {
        if shape.len() > out.len() {
            return None;
        }
        let numel: usize = shape.iter().product();
        let out_numel: usize = out.iter().product();
        let lead = out.len() - shape.len();
        for (i, &d) in shape.iter().enumerate() {
            if d != 1 && d != out[lead + i] {
                return None;
            }
        }
        if numel == out_numel {
            return Some(Access::Same);
        }
        if numel == 1 {
            return Some(Access::Scalar);
        }
        let mut strides = Dims::zeros(out.len());
        let mut s = 1;
        for i in (0..shape.len()).rev() {
            if shape[i] != 1 {
                strides[lead + i] = s;
            }
            s *= shape[i];
        }
        let (sizes, steps) = collapse(out, &strides);
        Some(Access::Strided { sizes, steps })
    }

    /// How a view of `shape` whose elements sit `strides` apart (a chunk, slice or
    /// permute of a value, read in place) broadcasts to `out`; `None` if it does not.
    pub fn of_view(shape: &[usize], strides: &[usize], out: &[usize]) -> Option<Access> {
        let lead = out.len().checked_sub(shape.len())?;
        if strides.len() != shape.len() {
            return None;
        }
        let mut steps = Dims::zeros(out.len());
        for (i, (&d, &s)) in shape.iter().zip(strides).enumerate() {
            if d != 1 && d != out[lead + i] {
                return None;
            }
            if d != 1 {
                steps[lead + i] = s;
            }
        }
        let (sizes, steps) = collapse(out, &steps);
        Some(Access::Strided { sizes, steps })
    }
}

/// An input of a fused run: its data and how it broadcasts.
pub struct Input<'a> {
    pub data: &'a [f32],
    pub access: Access,
}

/// `shape` and `strides` with each dim merged into the one before it where the two
/// address memory as one dim (`strides[d] == strides[d + 1] * shape[d + 1]`, so a
/// per-channel scale over `[n, c, h, w]` becomes `[n, c, h * w]` with strides `[0, 1,
/// 0]`), and dims of size 1 dropped: the runs [`gather`] copies or fills get longer.
fn collapse(shape: &[usize], strides: &[usize]) -> (Dims, Dims) {
    let (mut sizes, mut steps) = (Dims::zeros(shape.len()), Dims::zeros(shape.len()));
    let mut rank = 0;
    for (&n, &st) in shape.iter().zip(strides) {
        if n == 1 {
            continue;
        }
        if rank > 0 && steps[rank - 1] == st * n {
            sizes[rank - 1] *= n;
            steps[rank - 1] = st;
            continue;
        }
        sizes[rank] = n;
        steps[rank] = st;
        rank += 1;
    }
    (sizes.truncated(rank), steps.truncated(rank))
}

/// `dst` = the input's elements for output elements `start..` (the access knows the
/// output's shape).
fn gather(input: &Input, start: usize, dst: &mut [f32]) {
    match &input.access {
        Access::Same => dst.copy_from_slice(&input.data[start..start + dst.len()]),
        Access::Scalar => dst.fill(input.data.first().copied().unwrap_or(0.0)),
        Access::Strided { sizes, steps } => {
            let (out_shape, strides) = (&sizes[..], &steps[..]);
            let rank = out_shape.len();
            // The multi-index of `start`, then an odometer over the innermost dim.
            let mut idx = multi_index(out_shape, start);
            let mut offset = input_offset(&idx, strides);
            let inner = out_shape.last().copied().unwrap_or(1).max(1);
            let inner_stride = strides.last().copied().unwrap_or(0);
            let mut done = 0;
            while done < dst.len() {
                let pos = idx.last().copied().unwrap_or(0);
                let run = (inner - pos).min(dst.len() - done);
                let out = &mut dst[done..done + run];
                match inner_stride {
                    0 => out.fill(input.data[offset]),
                    1 => out.copy_from_slice(&input.data[offset..offset + run]),
                    s => out
                        .iter_mut()
                        .enumerate()
                        .for_each(|(i, o)| *o = input.data[offset + i * s]),
                }
                done += run;
                // Advance the odometer by `run` elements.
                offset += run * inner_stride;
                if rank == 0 {
                    break;
                }
                idx[rank - 1] += run;
                let mut d = rank - 1;
                while idx[d] >= out_shape[d].max(1) && d > 0 {
                    offset -= idx[d] * strides[d];
                    idx[d] = 0;
                    d -= 1;
                    idx[d] += 1;
                    offset += strides[d];
                }
            }
        }
    }
}

/// The multi-index of flat (row-major) element `flat` of `sizes`.
fn multi_index(sizes: &[usize], flat: usize) -> Dims {
    let mut idx = Dims::zeros(sizes.len());
    let mut rem = flat;
    for (i, &size) in idx.iter_mut().zip(sizes).rev() {
        let size = size.max(1);
        *i = rem % size;
        rem /= size;
    }
    idx
}

/// The input element a multi-index reads, by the access's steps.
fn input_offset(idx: &[usize], steps: &[usize]) -> usize {
    idx.iter().zip(steps).map(|(i, s)| i * s).sum()
}

/// The shortest run of one per-channel value that a chunk is cut to end at (shorter
/// runs are gathered as values). Cutting chunks at runs of 64 made a dilated TCN's
/// PReLU chains (`[4, 32, 64]`, a weight per channel) run 128 chunks of 64 where 8 of
/// 1024 do: 14 µs a step against 6 (compiled call 76 → 56 µs); the zoo's rows did not
/// move (LeNet's 8×8 planes now gathered, 61 µs either way).
const MIN_CONST_RUN: usize = 256;

/// What a register holds for the current chunk.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Held {
    /// Its own values.
    Values,
    /// One value for the whole chunk.
    Const(f32),
    /// `inputs[input].data[at..]`, read in place.
    Input { input: usize, at: usize },
    /// Whole rows of a view read in place: runs of `row` elements of
    /// `inputs[input].data`, the first at `at`, `stride` apart (an LSTM step's gates
    /// chunked into `[8, 128]` pieces of an `[8, 512]` product, gathered before).
    Rows {
        input: usize,
        at: usize,
        row: usize,
        stride: usize,
    },
}

impl Held {
    /// What a register holding this is read as for a chunk of `n` (`regs_r` the
    /// register's own values).
    fn operand<'a>(self, inputs: &[Input<'a>], regs_r: Option<&'a [f32]>, n: usize) -> Operand<'a> {
        match self {
            Held::Const(c) => Operand::Const(c),
            Held::Input { input, at } => Operand::Values(&inputs[input].data[at..at + n]),
            Held::Rows {
                input,
                at,
                row,
                stride,
            } => Operand::Rows {
                data: &inputs[input].data[at..],
                row,
                stride,
            },
            // `None` only for a register being written, whose copy the caller reads.
            Held::Values => regs_r.map_or(Operand::Const(f32::NAN), Operand::Values),
        }
    }
}

/// Where a strided input's current chunk starts: the chunk's first output element as a
/// multi-index of the access's sizes, and the input element it reads. Advanced chunk by
/// chunk by carrying (no division per chunk: a broadcast batch-norm operand over rows of
/// 1981 cost three divisions per input per chunk, more than the chunk's arithmetic).
struct Cursor {
    idx: Dims,
    at: usize,
}

impl Cursor {
    fn new(sizes: &[usize], steps: &[usize], start: usize) -> Cursor {
        let idx = multi_index(sizes, start);
        let at = input_offset(&idx, steps);
        Cursor { idx, at }
    }

    /// Moves `n` output elements on.
    fn advance(&mut self, sizes: &[usize], steps: &[usize], n: usize) {
        let Some(last) = sizes.len().checked_sub(1) else {
            return;
        };
        self.idx[last] += n;
        self.at += n * steps[last];
        let mut d = last;
        while d > 0 && self.idx[d] >= sizes[d].max(1) {
            let size = sizes[d].max(1);
            let carry = if self.idx[d] < 2 * size {
                1
            } else {
                self.idx[d] / size
            };
            self.idx[d] -= carry * size;
            self.at -= carry * size * steps[d];
            self.idx[d - 1] += carry;
            self.at += carry * steps[d - 1];
            d -= 1;
        }
    }
}

/// Per input, its [`Cursor`] when its access is strided (none at all, and no
/// allocation, when no input is).
fn cursors(inputs: &[Input], start: usize) -> Vec<Option<Cursor>> {
    if !(inputs.iter()).any(|i| matches!(i.access, Access::Strided { .. })) {
        return Vec::new();
    }
    (inputs.iter())
        .map(|input| match &input.access {
            Access::Strided { sizes, steps } => Some(Cursor::new(sizes, steps, start)),
            _ => None,
        })
        .collect()
}

/// Input `index`'s elements for the `n` output elements from `start` (`cursor` its
/// position when strided) without copying them: a slice of it where they are in order,
/// a constant where they are one value; `None` where they must be gathered.
fn chunk_view(
    inputs: &[Input],
    cursors: &[Option<Cursor>],
    index: usize,
    start: usize,
    n: usize,
) -> Option<Held> {
    let input = inputs.get(index)?;
    match &input.access {
        Access::Same => Some(Held::Input {
            input: index,
            at: start,
        }),
        Access::Scalar => input.data.first().map(|&c| Held::Const(c)),
        Access::Strided { sizes, steps } => {
            let (&inner, &step) = (sizes.last()?, steps.last()?);
            let cursor = cursors.get(index)?.as_ref()?;
            let col = cursor.idx.last().copied()?;
            // Rows long enough that a loop per row beats copying them.
            if inner >= MIN_CONST_RUN
                && col == 0
                && step == 1
                && n > inner
                && n.is_multiple_of(inner)
            {
                return whole_rows(index, sizes, steps, cursor, n);
            }
            if inner == 0 || col + n > inner || step > 1 {
                return None;
            }
            match step {
                0 => input.data.get(cursor.at).map(|&c| Held::Const(c)),
                _ => Some(Held::Input {
                    input: index,
                    at: cursor.at,
                }),
            }
        }
    }
}

/// Input `index`'s chunk of `n` elements as whole rows read in place, when the chunk
/// starts a row of its (collapsed) view and stays within the next dim out.
fn whole_rows(
    index: usize,
    sizes: &[usize],
    steps: &[usize],
    cursor: &Cursor,
    n: usize,
) -> Option<Held> {
    let rank = sizes.len();
    let (&inner, outer) = (sizes.last()?, rank.checked_sub(2)?);
    let rows_left = sizes[outer].checked_sub(*cursor.idx.get(outer)?)?;
    (n / inner <= rows_left).then_some(Held::Rows {
        input: index,
        at: cursor.at,
        row: inner,
        stride: steps[outer],
    })
}

fn unary(op: UnOp, a: &[f32], dst: &mut [f32]) {
    op.apply_f32(a, dst);
}

/// An operand of one chunk: a register's values, a constant, or whole rows read in
/// place ([`Held::Rows`]: runs of `row` from the start of `data`, `stride` apart).
#[derive(Clone, Copy)]
enum Operand<'a> {
    Values(&'a [f32]),
    Const(f32),
    Rows {
        data: &'a [f32],
        row: usize,
        stride: usize,
    },
}

impl<'a> Operand<'a> {
    /// The run of `row` elements of row `r` of the chunk (`row` the rows' length).
    fn row(self, r: usize, row: usize) -> Operand<'a> {
        match self {
            Operand::Values(x) => Operand::Values(&x[r * row..(r + 1) * row]),
            Operand::Const(c) => Operand::Const(c),
            Operand::Rows { data, stride, .. } => {
                Operand::Values(&data[r * stride..r * stride + row])
            }
        }
    }

    /// The row length of a [`Operand::Rows`].
    fn row_len(self) -> Option<usize> {
        match self {
            Operand::Rows { row, .. } => Some(row),
            _ => None,
        }
    }
}

/// `dst = op(a)` for a chunk; rows one at a time where `a` is rows read in place.
fn unary_into(op: UnOp, a: Operand, dst: &mut [f32]) {
    match a {
        Operand::Values(x) => unary(op, x, dst),
        Operand::Const(c) => {
            let mut v = [0f32];
            unary(op, &[c], &mut v);
            dst.fill(v[0]);
        }
        Operand::Rows { row, .. } => {
            for (r, d) in dst.chunks_mut(row).enumerate() {
                if let Operand::Values(x) = a.row(r, row) {
                    unary(op, x, d);
                }
            }
        }
    }
}

fn binary(op: BinOp, a: Operand, b: Operand, dst: &mut [f32]) {
    match a.row_len().or(b.row_len()) {
        None => ferrex_kernels::wide(BinaryLoop(op, a, b, dst)),
        // Rows read in place: the loop per row (the chunk is whole rows).
        Some(row) => {
            for (r, d) in dst.chunks_mut(row).enumerate() {
                ferrex_kernels::wide(BinaryLoop(op, a.row(r, row), b.row(r, row), d));
            }
        }
    }
}

/// [`binary`]'s loops, on the widest vectors.
struct BinaryLoop<'a>(BinOp, Operand<'a>, Operand<'a>, &'a mut [f32]);

impl ferrex_kernels::WideLoop for BinaryLoop<'_> {
    type Output = ();

    // One loop per operation (not a `match` per element, which kept the loops scalar
    // and cost a third of LeNet's run in its batch-norm epilogue).
    #[inline(always)]
    fn run(self) {
        let BinaryLoop(op, a, b, dst) = self;
        match op {
            BinOp::Add => binary_with(|x, y| x + y, a, b, dst),
            BinOp::Sub => binary_with(|x, y| x - y, a, b, dst),
            BinOp::Mul => binary_with(|x, y| x * y, a, b, dst),
            BinOp::Div => binary_with(|x, y| x / y, a, b, dst),
            BinOp::Max => binary_with(ferrex_kernels::pointwise::max_of, a, b, dst),
            BinOp::Min => binary_with(ferrex_kernels::pointwise::min_of, a, b, dst),
        }
    }
}

#[inline(always)]
fn binary_with(f: impl Fn(f32, f32) -> f32, a: Operand, b: Operand, dst: &mut [f32]) {
    match (a, b) {
        (Operand::Values(x), Operand::Values(y)) => {
            for ((d, &p), &q) in dst.iter_mut().zip(x).zip(y) {
                *d = f(p, q);
            }
        }
        (Operand::Values(x), Operand::Const(c)) => {
            for (d, &p) in dst.iter_mut().zip(x) {
                *d = f(p, c);
            }
        }
        (Operand::Const(c), Operand::Values(y)) => {
            for (d, &q) in dst.iter_mut().zip(y) {
                *d = f(c, q);
            }
        }
        (Operand::Const(c), Operand::Const(e)) => dst.fill(f(c, e)),
        // Split into rows by `binary` first.
        (Operand::Rows { .. }, _) | (_, Operand::Rows { .. }) => {}
    }
}

/// `dst = cond ? a : b` for a chunk (`cond` nonzero picks `a`); rows one at a time
/// where an operand is rows read in place.
fn select(cond: Operand, a: Operand, b: Operand, dst: &mut [f32]) {
    match cond.row_len().or(a.row_len()).or(b.row_len()) {
        None => ferrex_kernels::wide(SelectLoop(cond, a, b, dst)),
        Some(row) => {
            for (r, d) in dst.chunks_mut(row).enumerate() {
                let (c, x, y) = (cond.row(r, row), a.row(r, row), b.row(r, row));
                ferrex_kernels::wide(SelectLoop(c, x, y, d));
            }
        }
    }
}

/// [`select`]'s loops, on the widest vectors: one per kind of branch (a blend each).
struct SelectLoop<'a>(Operand<'a>, Operand<'a>, Operand<'a>, &'a mut [f32]);

impl ferrex_kernels::WideLoop for SelectLoop<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let SelectLoop(cond, a, b, dst) = self;
        let c = match cond {
            Operand::Values(c) => c,
            Operand::Const(c) => {
                let picked = if c != 0.0 { a } else { b };
                match picked {
                    Operand::Values(x) => dst.copy_from_slice(&x[..dst.len()]),
                    Operand::Const(x) => dst.fill(x),
                    // Split into rows by `select` first.
                    Operand::Rows { .. } => {}
                }
                return;
            }
            Operand::Rows { .. } => return,
        };
        let pick = |c: f32, x: f32, y: f32| if c != 0.0 { x } else { y };
        match (a, b) {
            (Operand::Values(x), Operand::Values(y)) => {
                for (((d, &c), &x), &y) in dst.iter_mut().zip(c).zip(x).zip(y) {
                    *d = pick(c, x, y);
                }
            }
            (Operand::Values(x), Operand::Const(y)) => {
                for ((d, &c), &x) in dst.iter_mut().zip(c).zip(x) {
                    *d = pick(c, x, y);
                }
            }
            (Operand::Const(x), Operand::Values(y)) => {
                for ((d, &c), &y) in dst.iter_mut().zip(c).zip(y) {
                    *d = pick(c, x, y);
                }
            }
            (Operand::Const(x), Operand::Const(y)) => {
                for (d, &c) in dst.iter_mut().zip(c) {
                    *d = pick(c, x, y);
                }
            }
            (Operand::Rows { .. }, _) | (_, Operand::Rows { .. }) => {}
        }
    }
}

/// A program's last instruction (a unary or binary op) computed into the output chunk
/// `dst` (of the chunk's length): the bits its register would hold.
fn into_output(
    ins: &Instr,
    held: &[Held],
    inputs: &[Input],
    regs: &[[f32; CHUNK]],
    dst: &mut [f32],
) {
    let n = dst.len();
    let operand = |r: usize| held[r].operand(inputs, Some(&regs[r][..n]), n);
    match *ins {
        Instr::Unary { op, a, .. } => unary_into(op, operand(a), dst),
        Instr::Binary { op, a, b, .. } => {
            let src = |s: Src| match s {
                Src::Const(c) => Operand::Const(c),
                Src::Reg(r) => operand(r),
            };
            binary(op, src(a), src(b), dst);
        }
        Instr::Select { cond, a, b, .. } => {
            let src = |s: Src| match s {
                Src::Const(c) => Operand::Const(c),
                Src::Reg(r) => operand(r),
            };
            select(operand(cond), src(a), src(b), dst);
        }
        Instr::Load { .. } | Instr::LoadOut { .. } => {}
    }
}

/// The registers other than one being written, readable beside it.
struct OtherRegs<'a> {
    below: &'a [[f32; CHUNK]],
    above: &'a [[f32; CHUNK]],
    dst: usize,
}

impl<'a> OtherRegs<'a> {
    /// Register `dst` to write and the others to read.
    fn split(regs: &'a mut [[f32; CHUNK]], dst: usize) -> (&'a mut [f32; CHUNK], OtherRegs<'a>) {
        let (below, rest) = regs.split_at_mut(dst);
        let (out, above) = rest.split_at_mut(1);
        (&mut out[0], OtherRegs { below, above, dst })
    }

    /// Register `r`'s first `n` values; `None` for the register being written.
    fn get(&self, r: usize, n: usize) -> Option<&'a [f32]> {
        match r {
            r if r < self.dst => Some(&self.below[r][..n]),
            r if r > self.dst => Some(&self.above[r - self.dst - 1][..n]),
            _ => None,
        }
    }
}

impl FusedProgram {
    /// Whether the program is ReLU of the output itself and nothing else: a product's
    /// tiles can apply it as they store ([`ferrex_kernels::GemmEpilogue`]).
    pub fn is_relu_of_output(&self) -> bool {
        self.unary_of_output() == Some(UnOp::Relu)
    }

    /// The function, where the program is one function of the output itself and nothing
    /// else (ReLU, GELU, SiLU, ...): a product's tiles can apply it to the rows they
    /// stored while those are in cache ([`ferrex_kernels::GemmEpilogue::unary`]).
    pub fn unary_of_output(&self) -> Option<UnOp> {
        match self.instrs.as_slice() {
            [Instr::LoadOut { dst: r }, Instr::Unary { dst, op, a }]
                if a == r && *dst == self.out =>
            {
                Some(*op)
            }
            _ => None,
        }
    }

    /// The input added to the output, and whether ReLU follows, where the program is
    /// `out + x` or `relu(out + x)` and nothing else: a product's tiles can add `x` as
    /// they store ([`ferrex_kernels::GemmEpilogue::addend`]) when it has the output's
    /// shape.
    pub fn addend_of_output(&self) -> Option<(usize, bool)> {
        let add = |step: &ChainStep| match *step {
            ChainStep::Binary {
                op: BinOp::Add,
                x: ChainOperand::Input(i),
                ..
            } => Some(i),
            _ => None,
        };
        match self.output_chain()?.as_slice() {
            [step] => Some((add(step)?, false)),
            [step, ChainStep::Relu] => Some((add(step)?, true)),
            _ => None,
        }
    }

    /// The program as a chain of steps on the output itself (`LoadOut`, then each step
    /// the previous value with one loaded input or constant, or a function of it), which a
    /// kernel can run where it writes its output (a convolution's
    /// [`ferrex_kernels::ConvEpilogueStep`]s); `None` for any other program.
    pub fn output_chain(&self) -> Option<Vec<ChainStep>> {
        let mut cur = None;
        // The input each register holds, if loaded.
        let mut loaded = vec![None; self.n_regs];
        let mut chain = Vec::new();
        for ins in &self.instrs {
            let dst = match *ins {
                Instr::LoadOut { dst } if cur.is_none() => {
                    cur = Some(dst);
                    *loaded.get_mut(dst)? = None;
                    continue;
                }
                Instr::Load { dst, input } if Some(dst) != cur => {
                    *loaded.get_mut(dst)? = Some(input);
                    continue;
                }
                Instr::Unary { dst, op, a } if Some(a) == cur => {
                    chain.push(match op {
                        UnOp::Relu => ChainStep::Relu,
                        op => ChainStep::Unary(op),
                    });
                    dst
                }
                Instr::Binary { dst, op, a, b } => {
                    let operand = |s: Src| match s {
                        Src::Const(c) => Some(ChainOperand::Const(c)),
                        Src::Reg(r) if Some(r) != cur => {
                            loaded.get(r).copied().flatten().map(ChainOperand::Input)
                        }
                        Src::Reg(_) => None,
                    };
                    let (x, x_first) = match (a, b) {
                        (Src::Reg(r), x) if Some(r) == cur => (operand(x)?, false),
                        (x, Src::Reg(r)) if Some(r) == cur => (operand(x)?, true),
                        _ => return None,
                    };
                    chain.push(ChainStep::Binary { op, x, x_first });
                    dst
                }
                _ => return None,
            };
            *loaded.get_mut(dst)? = None;
            cur = Some(dst);
        }
        (cur == Some(self.out)).then_some(chain)
    }

    /// The program as one loop over whole slices where it is a single operation on
    /// inputs read in order — `a + b` of two same-shape inputs, an activation of one, an
    /// activation epilogue on the output itself — with no registers and no copies
    /// (the register machine's copies and zeroed scratch were most of a small add's
    /// time). Returns whether it ran; the results are the register machine's bits.
    fn run_whole(&self, inputs: &[Input], out: &mut [f32]) -> bool {
        let same = |i: usize| {
            (inputs.get(i))
                .filter(|x| matches!(x.access, Access::Same) && x.data.len() >= out.len())
                .map(|x| &x.data[..out.len()])
        };
        match self.instrs.as_slice() {
            [Instr::Load { dst: ra, input: ia }, Instr::Load { dst: rb, input: ib }, Instr::Binary {
                dst,
                op,
                a: Src::Reg(x),
                b: Src::Reg(y),
            }] if *dst == self.out && ra != rb => {
                let input_of = |r: &usize| match r {
                    r if r == ra => same(*ia),
                    r if r == rb => same(*ib),
                    _ => None,
                };
                let (Some(a), Some(b)) = (input_of(x), input_of(y)) else {
                    return false;
                };
                binary(*op, Operand::Values(a), Operand::Values(b), out);
                true
            }
            [Instr::Load { dst: r, input }, Instr::Unary { dst, op, a }]
                if a == r && *dst == self.out =>
            {
                let Some(x) = same(*input) else {
                    return false;
                };
                op.apply_f32(x, out);
                true
            }
            [Instr::LoadOut { dst: r }, Instr::Unary { dst, op, a }]
                if a == r && *dst == self.out =>
            {
                let mut tmp = [0f32; CHUNK];
                for piece in out.chunks_mut(CHUNK) {
                    let tmp = &mut tmp[..piece.len()];
                    tmp.copy_from_slice(piece);
                    op.apply_f32(tmp, piece);
                }
                true
            }
            _ => false,
        }
    }

    /// Evaluates elements `range` of the output (of shape `out_shape`) into `out`, which
    /// holds exactly those elements.
    ///
    /// A chunk's load is not copied where it need not be: an input read in order is used
    /// in place, and a broadcast input that is one value over the chunk (a per-channel
    /// batch-norm scale over a channel's plane) is a constant, so the arithmetic on it
    /// runs against a number. Chunks end where such a per-channel value changes (for runs
    /// of at least [`MIN_CONST_RUN`]), so that every chunk of a plane sees one value.
    fn run_range(
        &self,
        inputs: &[Input],
        start: usize,
        out: &mut [f32],
        regs: &mut [[f32; CHUNK]],
    ) {
        let mut held_inline = [Held::Values; 16];
        let mut held_heap = Vec::new();
        let held: &mut [Held] = match self.n_regs <= held_inline.len() {
            true => &mut held_inline[..self.n_regs],
            false => {
                held_heap.resize(self.n_regs, Held::Values);
                &mut held_heap
            }
        };
        let mut cursors = cursors(inputs, start);
        // The last instruction writes the output chunk itself when it computes the
        // output register: the register's copy into `out` was a pass of its own.
        let (body, last) = match self.instrs.split_last() {
            Some((
                last @ (Instr::Unary { dst, .. }
                | Instr::Binary { dst, .. }
                | Instr::Select { dst, .. }),
                body,
            )) if *dst == self.out => (body, Some(last)),
            _ => (&self.instrs[..], None),
        };
        let mut pos = 0;
        while pos < out.len() {
            let n = self.chunk_len(inputs, &cursors, self.chunk_cap().min(out.len() - pos));
            for ins in body {
                match *ins {
                    Instr::Load { dst, input } => {
                        held[dst] = chunk_view(inputs, &cursors, input, start + pos, n)
                            .unwrap_or_else(|| {
                                gather(&inputs[input], start + pos, &mut regs[dst][..n]);
                                Held::Values
                            });
                    }
                    Instr::LoadOut { dst } => {
                        regs[dst][..n].copy_from_slice(&out[pos..pos + n]);
                        held[dst] = Held::Values;
                    }
                    Instr::Unary { dst, op, a } => {
                        held[dst] = unary_step(op, held[a], a, dst, inputs, regs, n);
                    }
                    Instr::Binary { dst, op, a, b } => {
                        held[dst] = binary_step(op, [a, b], dst, held, inputs, regs, n);
                    }
                    Instr::Select { dst, cond, a, b } => {
                        held[dst] = select_step(cond, [a, b], dst, held, inputs, regs, n);
                    }
                }
            }
            let dst = &mut out[pos..pos + n];
            match last {
                Some(ins) => into_output(ins, held, inputs, regs, dst),
                None => match held[self.out].operand(inputs, Some(&regs[self.out][..n]), n) {
                    Operand::Const(c) => dst.fill(c),
                    Operand::Values(x) => dst.copy_from_slice(x),
                    rows @ Operand::Rows { row, .. } => {
                        for (r, d) in dst.chunks_mut(row).enumerate() {
                            if let Operand::Values(x) = rows.row(r, row) {
                                d.copy_from_slice(x);
                            }
                        }
                    }
                },
            }
            pos += n;
            for (cursor, input) in cursors.iter_mut().zip(inputs) {
                if let (Some(c), Access::Strided { sizes, steps }) = (cursor, &input.access) {
                    c.advance(sizes, steps, n);
                }
            }
        }
    }

    /// The longest chunk of this program: [`CHUNK`], or fewer for a program of many
    /// registers ([`REGS_BUDGET`]), in whole vectors.
    fn chunk_cap(&self) -> usize {
        let per_reg = REGS_BUDGET / (self.n_regs.max(1) * std::mem::size_of::<f32>());
        (per_reg & !15).clamp(256, CHUNK)
    }

    /// How many output elements (at most `n`) the next chunk takes: fewer
    /// where a per-channel input's value changes within the chunk, so that it is one
    /// constant over each chunk, or where a strided input's row ends (a chunk of gates
    /// `[B, 4H]`), so that each chunk reads one row in place.
    fn chunk_len(&self, inputs: &[Input], cursors: &[Option<Cursor>], n: usize) -> usize {
        let mut len = n;
        for ins in &self.instrs {
            let Instr::Load { input, .. } = *ins else {
                continue;
            };
            let (
                Some(Input {
                    access: Access::Strided { sizes, steps },
                    ..
                }),
                Some(Some(cursor)),
            ) = (inputs.get(input), cursors.get(input))
            else {
                continue;
            };
            // A per-channel value (step 0), or a view's row read in place (step 1) where
            // rows fill at least half a chunk; shorter rows (of at least
            // `MIN_CONST_RUN`) are read in place a chunk of whole rows at a time.
            let shortest = match steps.last() {
                Some(0) => MIN_CONST_RUN,
                Some(1) => CHUNK / 2,
                _ => continue,
            };
            let Some(&inner) = sizes.last() else {
                continue;
            };
            let col = cursor.idx.last().copied().unwrap_or(0);
            if steps.last() == Some(&1) && (MIN_CONST_RUN..shortest).contains(&inner) {
                len = match col {
                    0 if len > inner => len - len % inner,
                    0 => len,
                    // Back to the start of a row.
                    _ => len.min(inner - col),
                };
                continue;
            }
            if inner < shortest {
                continue;
            }
            let left = inner.saturating_sub(cursor.idx.last().copied().unwrap_or(0));
            if left < len && left >= MIN_CONST_RUN / 4 {
                len = left;
            }
        }
        len
    }

    /// Evaluates the program over the whole output `out` (of shape `out_shape`),
    /// splitting large outputs over threads. Inputs must broadcast to `out_shape` and
    /// hold the elements their access reads (checked: an error names the problem).
    pub fn run(
        &self,
        inputs: &[Input],
        out_shape: &[usize],
        out: &mut [f32],
    ) -> Result<(), String> {
        self.run_on(inputs, out_shape, out, num_threads())
    }

    /// [`FusedProgram::run`] on at most `threads` threads: 1 for the epilogue of a
    /// product that ran on this thread alone, whose output is in this core's cache
    /// (split, the other core read half of it in, and the next step read that half back:
    /// a transformer block ran slower at 2 threads than at 1).
    pub fn run_on(
        &self,
        inputs: &[Input],
        out_shape: &[usize],
        out: &mut [f32],
        threads: usize,
    ) -> Result<(), String> {
        let numel: usize = out_shape.iter().product();
        if out.len() < numel {
            return Err("the output buffer is smaller than the output".into());
        }
        for (i, input) in inputs.iter().enumerate() {
            check_input(i, input, out_shape)?;
        }
        let reg = |r: usize| r < self.n_regs;
        let src_ok = |s: Src| matches!(s, Src::Const(_)) || matches!(s, Src::Reg(x) if reg(x));
        for ins in &self.instrs {
            let valid = match *ins {
                Instr::Load { dst, input } => {
                    if input >= inputs.len() {
                        return Err(format!("fused input {input} is missing"));
                    }
                    reg(dst)
                }
                Instr::LoadOut { dst } => reg(dst),
                Instr::Unary { dst, a, .. } => reg(dst) && reg(a),
                Instr::Binary { dst, a, b, .. } => reg(dst) && src_ok(a) && src_ok(b),
                Instr::Select { dst, cond, a, b } => {
                    reg(dst) && reg(cond) && src_ok(a) && src_ok(b)
                }
            };
            if !valid {
                return Err("a fused program names a missing register".into());
            }
        }
        if !reg(self.out) {
            return Err("a fused program names a missing register".into());
        }
        let out = &mut out[..numel];
        let threads = threads.clamp(1, num_threads());
        let in_place = self
            .instrs
            .iter()
            .any(|i| matches!(i, Instr::LoadOut { .. }));
        let min_split = if in_place {
            PAR_MIN_EPILOGUE
        } else {
            PAR_MIN_ELEMS
        };
        if (threads == 1 || numel < min_split) && self.run_whole(inputs, out) {
            return Ok(());
        }
        if threads > 1 && numel >= min_split {
            // Chunk-aligned pieces, one per thread of the pool.
            let chunks = numel.div_ceil(CHUNK);
            return for_each_item_chunk(
                out,
                chunks,
                CHUNK,
                threads,
                &|first, piece| {
                    let mut regs = vec![[0f32; CHUNK]; self.n_regs];
                    self.run_range(inputs, first * CHUNK, piece, &mut regs);
                    Ok(())
                },
                || String::from("a fused-loop worker thread failed"),
            );
        }
        // This thread's registers, kept between runs (zeroing them per run cost more
        // than a small epilogue's arithmetic); a fresh set if a run re-enters.
        thread_local! {
            static REGS: std::cell::RefCell<Vec<[f32; CHUNK]>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        REGS.with(|regs| match regs.try_borrow_mut() {
            Ok(mut regs) => {
                if regs.len() < self.n_regs {
                    regs.resize(self.n_regs, [0f32; CHUNK]);
                }
                self.run_range(inputs, 0, out, &mut regs[..self.n_regs]);
            }
            Err(_) => {
                let mut regs = vec![[0f32; CHUNK]; self.n_regs];
                self.run_range(inputs, 0, out, &mut regs);
            }
        });
        Ok(())
    }
}

/// Input `i` holds the elements its access reads for an output of `out_shape`.
fn check_input(i: usize, input: &Input, out_shape: &[usize]) -> Result<(), String> {
    let numel: usize = out_shape.iter().product();
    let needed = match &input.access {
        Access::Same => numel,
        Access::Scalar => 1,
        Access::Strided { sizes, steps } => {
            steps
                .iter()
                .zip(sizes.iter())
                .map(|(s, d)| s * d.saturating_sub(1))
                .sum::<usize>()
                + 1
        }
    };
    if numel > 0 && input.data.len() < needed {
        return Err(format!(
            "fused input {i} holds {} elements, {needed} needed",
            input.data.len()
        ));
    }
    Ok(())
}

/// Writes `input`, broadcast to `out_shape`, into `out` (single-threaded: a copy).
pub fn broadcast_into(input: &Input, out_shape: &[usize], out: &mut [f32]) -> Result<(), String> {
    let numel: usize = out_shape.iter().product();
    let out = out
        .get_mut(..numel)
        .ok_or("the output buffer is smaller than the output")?;
    check_input(0, input, out_shape)?;
    if numel == 0 {
        return Ok(());
    }
    // One row repeated (a bias over a GEMM's output): a copy per row, without the
    // odometer's per-run index work (a tenth of the tutorial module's generated call).
    if let Access::Strided { sizes, steps } = &input.access {
        if let ([_, n], [0, 1]) = (&sizes[..], &steps[..]) {
            for row in out.chunks_exact_mut(*n) {
                row.copy_from_slice(&input.data[..*n]);
            }
            return Ok(());
        }
    }
    gather(input, 0, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_access_reads_the_right_elements() {
        // bias [3] over [2, 3]; channel [2, 1, 1] over [1, 2, 2, 2].
        let bias = [1.0, 2.0, 3.0];
        let input = Input {
            data: &bias,
            access: Access::of(&[3], &[2, 3]).unwrap(),
        };
        let mut dst = [0f32; 6];
        gather(&input, 0, &mut dst);
        assert_eq!(dst, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        let mut dst = [0f32; 4];
        gather(&input, 2, &mut dst);
        assert_eq!(dst, [3.0, 1.0, 2.0, 3.0]);
        let ch = [10.0, 20.0];
        let input = Input {
            data: &ch,
            access: Access::of(&[2, 1, 1], &[1, 2, 2, 2]).unwrap(),
        };
        let mut dst = [0f32; 8];
        gather(&input, 0, &mut dst);
        assert_eq!(dst, [10.0, 10.0, 10.0, 10.0, 20.0, 20.0, 20.0, 20.0]);
        // A column [2, 1] over [2, 3].
        let col = [5.0, 6.0];
        let input = Input {
            data: &col,
            access: Access::of(&[2, 1], &[2, 3]).unwrap(),
        };
        let mut dst = [0f32; 5];
        gather(&input, 1, &mut dst);
        assert_eq!(dst, [5.0, 5.0, 6.0, 6.0, 6.0]);
        assert!(Access::of(&[4], &[2, 3]).is_none());
    }

    /// Every broadcast of a few shapes, read from every start and length, against the
    /// definition (output index → input index by the broadcast rule).
    #[test]
    fn collapsed_dims_read_what_the_broadcast_rule_says() {
        let out = [3, 2, 4, 5];
        let numel: usize = out.iter().product();
        for shape in [
            vec![2, 1, 1],
            vec![1, 2, 4, 1],
            vec![3, 1, 4, 5],
            vec![4, 5],
            vec![3, 2, 1, 1],
        ] {
            let data: Vec<f32> = (0..shape.iter().product::<usize>())
                .map(|v| v as f32)
                .collect();
            let input = Input {
                data: &data,
                access: Access::of(&shape, &out).unwrap(),
            };
            let lead = out.len() - shape.len();
            let want: Vec<f32> = (0..numel)
                .map(|flat| {
                    let (mut rem, mut at, mut stride) = (flat, 0, 1);
                    for d in (0..out.len()).rev() {
                        let i = rem % out[d];
                        rem /= out[d];
                        if d >= lead {
                            let n = shape[d - lead];
                            at += if n == 1 { 0 } else { i * stride };
                            stride *= n;
                        }
                    }
                    data[at]
                })
                .collect();
            for (start, len) in [(0, numel), (7, 13), (19, 1), (100, 20)] {
                let mut dst = vec![f32::NAN; len];
                gather(&input, start, &mut dst);
                assert_eq!(dst, want[start..start + len], "{shape:?} from {start}");
            }
        }
    }

    /// Programs that are a chain of steps on the output are read as that chain (a
    /// register written twice, an operand on either side, a unary op); others are not: a
    /// unary op of an input, the value squared, a result that is not the chain's last value,
    /// arithmetic between two inputs, no `LoadOut`.
    #[test]
    fn output_chains_are_the_steps_on_the_output() {
        let bin = |dst, op, a, b| Instr::Binary { dst, op, a, b };
        let unary = |dst, op, a| Instr::Unary { dst, op, a };
        let prog = |instrs: Vec<Instr>, out| FusedProgram {
            n_regs: 6,
            instrs,
            out,
            label: String::new(),
        };
        let bn_add_relu = prog(
            vec![
                Instr::LoadOut { dst: 0 },
                Instr::Load { dst: 1, input: 0 },
                bin(2, BinOp::Mul, Src::Reg(0), Src::Reg(1)),
                Instr::Load { dst: 3, input: 1 },
                bin(2, BinOp::Add, Src::Reg(3), Src::Reg(2)),
                bin(4, BinOp::Sub, Src::Const(0.5), Src::Reg(2)),
                unary(5, UnOp::Relu, 4),
            ],
            5,
        );
        let step = |op, x, x_first| ChainStep::Binary { op, x, x_first };
        assert_eq!(
            bn_add_relu.output_chain(),
            Some(vec![
                step(BinOp::Mul, ChainOperand::Input(0), false),
                step(BinOp::Add, ChainOperand::Input(1), true),
                step(BinOp::Sub, ChainOperand::Const(0.5), true),
                ChainStep::Relu,
            ])
        );
        let not_chains = [
            // A unary op of another value than the chain's.
            prog(
                vec![
                    Instr::LoadOut { dst: 0 },
                    Instr::Load { dst: 1, input: 0 },
                    unary(2, UnOp::Exp, 1),
                    bin(3, BinOp::Add, Src::Reg(0), Src::Reg(2)),
                ],
                3,
            ),
            // The value squared.
            prog(
                vec![
                    Instr::LoadOut { dst: 0 },
                    bin(1, BinOp::Mul, Src::Reg(0), Src::Reg(0)),
                ],
                1,
            ),
            // The result is an input, not the chain.
            prog(
                vec![
                    Instr::LoadOut { dst: 0 },
                    Instr::Load { dst: 1, input: 0 },
                    bin(2, BinOp::Add, Src::Reg(0), Src::Reg(1)),
                ],
                1,
            ),
            // Two inputs combined before they meet the chain.
            prog(
                vec![
                    Instr::LoadOut { dst: 0 },
                    Instr::Load { dst: 1, input: 0 },
                    Instr::Load { dst: 2, input: 1 },
                    bin(3, BinOp::Mul, Src::Reg(1), Src::Reg(2)),
                    bin(4, BinOp::Add, Src::Reg(0), Src::Reg(3)),
                ],
                4,
            ),
            // No output read: not an epilogue on it.
            prog(
                vec![Instr::Load { dst: 0, input: 0 }, unary(1, UnOp::Relu, 0)],
                1,
            ),
        ];
        for p in not_chains {
            assert_eq!(p.output_chain(), None, "{:?}", p.instrs);
        }
    }

    /// A unary op other than ReLU after a per-channel scale (a batch norm's hardswish) is
    /// a step of the chain.
    #[test]
    fn a_function_of_the_output_is_a_chain_step() {
        let scale_hardswish = FusedProgram {
            n_regs: 4,
            instrs: vec![
                Instr::LoadOut { dst: 0 },
                Instr::Load { dst: 1, input: 0 },
                Instr::Binary {
                    dst: 2,
                    op: BinOp::Mul,
                    a: Src::Reg(0),
                    b: Src::Reg(1),
                },
                Instr::Unary {
                    dst: 3,
                    op: UnOp::Hardswish,
                    a: 2,
                },
            ],
            out: 3,
            label: String::new(),
        };
        assert_eq!(
            scale_hardswish.output_chain(),
            Some(vec![
                ChainStep::Binary {
                    op: BinOp::Mul,
                    x: ChainOperand::Input(0),
                    x_first: false
                },
                ChainStep::Unary(UnOp::Hardswish),
            ])
        );
    }

    /// A batch-norm epilogue with a residual (`relu(out * scale[c] + shift[c] + r)`) over
    /// planes longer and shorter than a chunk, from aligned and unaligned starts (as
    /// threads split it): per-channel constants and in-place inputs give the values the
    /// definition does, bit for bit.
    #[test]
    fn per_channel_constants_and_in_place_inputs_match_the_definition() {
        let prog = FusedProgram {
            instrs: vec![
                Instr::LoadOut { dst: 0 },
                Instr::Load { dst: 1, input: 0 },
                Instr::Binary {
                    dst: 2,
                    op: BinOp::Mul,
                    a: Src::Reg(0),
                    b: Src::Reg(1),
                },
                Instr::Load { dst: 3, input: 1 },
                Instr::Binary {
                    dst: 2,
                    op: BinOp::Add,
                    a: Src::Reg(2),
                    b: Src::Reg(3),
                },
                Instr::Load { dst: 4, input: 2 },
                Instr::Binary {
                    dst: 5,
                    op: BinOp::Add,
                    a: Src::Reg(2),
                    b: Src::Reg(4),
                },
                Instr::Unary {
                    dst: 5,
                    op: UnOp::Relu,
                    a: 5,
                },
            ],
            n_regs: 6,
            out: 5,
            label: String::new(),
        };
        for shape in [[2, 3, 10, 13], [2, 3, 5, 5], [1, 4, 20, 20], [1, 2, 16, 16]] {
            let (c, plane) = (shape[1], shape[2] * shape[3]);
            let numel: usize = shape.iter().product();
            let scale: Vec<f32> = (0..c).map(|i| 0.5 + i as f32).collect();
            let shift: Vec<f32> = (0..c).map(|i| 1.0 - 2.0 * i as f32).collect();
            let res: Vec<f32> = (0..numel).map(|i| (i % 17) as f32 * 0.25 - 2.0).collect();
            let x: Vec<f32> = (0..numel).map(|i| (i % 29) as f32 * 0.125 - 1.5).collect();
            let want: Vec<f32> = (0..numel)
                .map(|i| {
                    let ch = (i / plane) % c;
                    (x[i] * scale[ch] + shift[ch] + res[i]).max(0.0)
                })
                .collect();
            let inputs = [
                Input {
                    data: &scale,
                    access: Access::of(&[c, 1, 1], &shape).unwrap(),
                },
                Input {
                    data: &shift,
                    access: Access::of(&[c, 1, 1], &shape).unwrap(),
                },
                Input {
                    data: &res,
                    access: Access::Same,
                },
            ];
            let mut out = x.clone();
            prog.run(&inputs, &shape, &mut out).unwrap();
            assert_eq!(out, want, "{shape:?}");
            for first in [0, 1, 37, 255, 300] {
                let first = first.min(numel - 1);
                let mut part = x[first..].to_vec();
                let mut regs = vec![[0f32; CHUNK]; prog.n_regs];
                prog.run_range(&inputs, first, &mut part, &mut regs);
                assert_eq!(part, want[first..], "{shape:?} from {first}");
            }
        }
    }

    #[test]
    fn gelu_and_erf_are_accurate() {
        use ferrex_kernels::pointwise::{erf, gelu};
        for i in -400..=400 {
            let x = i as f64 / 50.0;
            // erf via its Taylor series where it converges fast.
            if x.abs() < 2.0 {
                let mut term = x;
                let mut sum = x;
                for n in 1..60 {
                    term *= -x * x / n as f64;
                    sum += term / (2 * n + 1) as f64;
                }
                let want = sum * 2.0 / std::f64::consts::PI.sqrt();
                assert!((erf(x) - want).abs() < 2e-7, "erf({x})");
            }
            let g = gelu(x);
            let want = 0.5 * x * (1.0 + erf(x * std::f64::consts::FRAC_1_SQRT_2));
            assert!((g - want).abs() < 1e-6, "gelu({x})");
        }
    }

    #[test]
    fn a_chain_runs_in_one_pass_and_in_place() {
        // out = relu(x * 2 + b), then an in-place epilogue: out = -out.
        let prog = FusedProgram {
            instrs: vec![
                Instr::Load { dst: 0, input: 0 },
                Instr::Binary {
                    dst: 1,
                    op: BinOp::Mul,
                    a: Src::Reg(0),
                    b: Src::Const(2.0),
                },
                Instr::Load { dst: 2, input: 1 },
                Instr::Binary {
                    dst: 3,
                    op: BinOp::Add,
                    a: Src::Reg(1),
                    b: Src::Reg(2),
                },
                Instr::Unary {
                    dst: 4,
                    op: UnOp::Relu,
                    a: 3,
                },
            ],
            n_regs: 5,
            out: 4,
            label: String::new(),
        };
        let n = 1000;
        let x: Vec<f32> = (0..n).map(|i| i as f32 / 100.0 - 5.0).collect();
        let b = [0.5f32, -0.5];
        let shape = [n / 2, 2];
        let inputs = [
            Input {
                data: &x,
                access: Access::Same,
            },
            Input {
                data: &b,
                access: Access::of(&[2], &shape).unwrap(),
            },
        ];
        let mut out = vec![0f32; n];
        prog.run(&inputs, &shape, &mut out).unwrap();
        for i in 0..n {
            assert_eq!(out[i], (x[i] * 2.0 + b[i % 2]).max(0.0));
        }
        let neg = FusedProgram {
            instrs: vec![
                Instr::LoadOut { dst: 0 },
                Instr::Unary {
                    dst: 1,
                    op: UnOp::Neg,
                    a: 0,
                },
            ],
            n_regs: 2,
            out: 1,
            label: String::new(),
        };
        let before = out.clone();
        neg.run(&[], &shape, &mut out).unwrap();
        assert!(out.iter().zip(&before).all(|(a, b)| *a == -b));
        // A bad program is an error, not a panic.
        let bad = FusedProgram {
            instrs: vec![Instr::Load { dst: 0, input: 3 }],
            n_regs: 1,
            out: 0,
            label: String::new(),
        };
        assert!(bad.run(&[], &shape, &mut out).is_err());
    }

    /// Programs over three views and an input: an LSTM cell's gate arithmetic, rows
    /// beside rows, and a view copied out as it is.
    fn row_programs() -> [FusedProgram; 3] {
        let u = |dst, op, a| Instr::Unary { dst, op, a };
        let b = |dst, op, a, b| Instr::Binary {
            dst,
            op,
            a: Src::Reg(a),
            b: Src::Reg(b),
        };
        let load = |dst, input| Instr::Load { dst, input };
        // sigmoid(v1) * v3 + sigmoid(v0) * tanh(v2), for views v0..v2 and an input v3.
        let cell = FusedProgram {
            instrs: vec![
                load(0, 0),
                load(1, 1),
                load(2, 2),
                load(3, 3),
                u(4, UnOp::Sigmoid, 0),
                u(5, UnOp::Sigmoid, 1),
                u(6, UnOp::Tanh, 2),
                b(7, BinOp::Mul, 5, 3),
                b(8, BinOp::Mul, 4, 6),
                b(9, BinOp::Add, 7, 8),
            ],
            n_regs: 10,
            out: 9,
            label: String::new(),
        };
        // v0 + v1 * v2 (rows beside rows), then the view v0 copied out as it is.
        let rows = FusedProgram {
            instrs: vec![
                load(0, 0),
                load(1, 1),
                load(2, 2),
                b(3, BinOp::Mul, 1, 2),
                b(4, BinOp::Add, 0, 3),
            ],
            n_regs: 5,
            out: 4,
            label: String::new(),
        };
        let copy = FusedProgram {
            instrs: vec![load(0, 0)],
            n_regs: 1,
            out: 0,
            label: String::new(),
        };
        [cell, rows, copy]
    }

    /// Views of rows shorter than half a chunk are read in place a chunk of whole rows
    /// at a time ([`Held::Rows`]), with the bits of the same program on gathered copies:
    /// an LSTM cell's gate pieces, rows of 100 (chunks of 600), a 3-D view whose rows end
    /// at its outer dim, a view copied straight out, rows beside rows and a per-channel
    /// input, one thread and two.
    #[test]
    fn whole_rows_are_read_in_place_with_the_gathered_bits() {
        let [cell, rows, copy] = row_programs();
        // (viewed value's sizes, the view's sizes, the pieces' offset along the last dim)
        let cases: [(&[usize], &[usize], usize); 3] = [
            (&[8, 512], &[8, 128], 128),
            (&[7, 400], &[7, 100], 100),
            (&[3, 5, 256], &[3, 5, 64], 64),
        ];
        for (xs, vs, piece) in cases {
            let len: usize = xs.iter().product();
            let n: usize = vs.iter().product();
            let data: Vec<f32> = (0..len)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 13.0)
                .collect();
            let extra: Vec<f32> = (0..n).map(|i| (i % 17) as f32 / 7.0 - 1.0).collect();
            let strides = crate::plan::contiguous_strides(xs);
            let last = vs.len() - 1;
            // Piece `p` of the last dim: a view in place, and its gathered copy.
            let view = |p: usize| Input {
                data: &data[p * piece..],
                access: Access::of_view(vs, &strides, vs).unwrap(),
            };
            let gathered: Vec<Vec<f32>> = (0..3)
                .map(|p| {
                    let mut g = vec![0f32; n];
                    gather(&view(p), 0, &mut g);
                    g
                })
                .collect();
            for (a, want) in gathered.iter().zip(0..) {
                // The gather itself is the view's elements.
                let row = vs[last];
                let first = want * piece;
                assert_eq!(a[..row], data[first..first + row]);
            }
            for threads in [1, 2] {
                for prog in [&cell, &rows, &copy] {
                    let by_view = [
                        view(0),
                        view(1),
                        view(2),
                        Input {
                            data: &extra,
                            access: Access::Same,
                        },
                    ];
                    let by_copy: Vec<Input> = (gathered.iter().map(|g| &g[..]))
                        .chain([&extra[..]])
                        .map(|d| Input {
                            data: d,
                            access: Access::Same,
                        })
                        .collect();
                    let (mut got, mut want) = (vec![0f32; n], vec![0f32; n]);
                    prog.run_on(&by_view, vs, &mut got, threads).unwrap();
                    prog.run_on(&by_copy, vs, &mut want, threads).unwrap();
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "{vs:?} {} rows", prog.instrs.len());
                }
            }
        }
    }
}
