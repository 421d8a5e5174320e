//! ferrex's own f32 GEMM over a prepacked right operand: [`PackedB`] stores a `[k, n]`
//! matrix as 16-column panels (`k × 16` contiguous on cache lines, the last one
//! zero-padded), packed once — at compile time for a constant weight — and
//! [`gemm_packed`] runs `c = alpha * a @ b + beta * c` over it with blocked loops (k
//! blocks of about [`KC`] depths, row blocks packed into micro-panels of the tile's
//! height, or read in place for products of few columns) and register-tiled
//! micro-kernels chosen at run time: on AVX-512 14×32 and 8×48 tiles, on AVX2 + FMA a
//! 6×16 tile, and wide tiles (1×128, 2×96, 3×64, 4×96 on AVX-512) for products of few rows,
//! which would be latency-bound on a tall tile; a portable tile elsewhere. Large
//! products are split by column panels over the one thread pool
//! ([`crate::threads::pool`]); [`GemmEpilogue`] adds a bias row and ReLU where the tiles
//! store.
//!
//! Measured against matrixmultiply and PyTorch (MKL), see ARCHITECTURE.md ("GEMM"):
//! [`gemm()`](crate::gemm::gemm) takes this path for f32 where it wins.

use crate::alloc::try_filled;
use crate::gemm::Mat;
use crate::pointwise::Unary;
use crate::threads::{for_each_range, has_avx2_fma, has_avx512f, num_threads, split_ranges};
use crate::KernelError;

/// ReLU as the elementwise kernel computes it in f32 (NaN and -0 kept).
#[inline(always)]
fn relu(x: f32) -> f32 {
    crate::pointwise::Unary::Relu.eval_f32(x)
}

/// Columns per packed panel (two 8-lane vectors).
pub const NR: usize = 16;
/// The most rows of any micro-kernel's tile.
const MR_MAX: usize = 14;
/// Depth of a k block: two `KC × NR` weight panels (32 KiB) stay in L1.
pub const KC: usize = 256;

/// The depth of the k blocks of a product of `m` rows: [`KC`], or all of `k` when it is
/// at most a quarter more — one block, where a full one and a thin remainder (a 3×3
/// convolution of 32 channels is 288 deep) stored and reloaded every tile's
/// accumulators for 32 depths. Products of fewer than 4 rows take all of `k` too: they
/// read each weight float once, so blocking keeps nothing in L1, and one walk over whole
/// panels is what lets alternate walks reverse ([`PackedB::next_walk_descends`]).
fn k_block(m: usize, k: usize) -> usize {
    if m < 4 || k <= KC + KC / 4 {
        k.max(1)
    } else {
        KC
    }
}

/// Whether products of `m1` and of `m2` rows at depth `k` sum each output in the same
/// order (the same k blocks), so that a row computes the same bits in either: what a
/// caller that splits a product's rows over several calls must check.
pub fn sums_alike(m1: usize, m2: usize, k: usize) -> bool {
    k_block(m1, k) == k_block(m2, k)
}

/// The micro-kernels this CPU runs, detected once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    /// AVX-512F: 32 registers of 16 lanes; a 14×32 tile.
    Avx512,
    /// AVX2 + FMA: 16 registers of 8 lanes; a 6×16 tile.
    Avx2,
    /// Plain Rust (the compiler's vectorization); a 6×16 tile.
    Portable,
}

impl Isa {
    #[inline]
    fn get() -> Isa {
        static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| {
            if has_avx512f() {
                return Isa::Avx512;
            }
            if has_avx2_fma() {
                Isa::Avx2
            } else {
                Isa::Portable
            }
        })
    }

    /// Rows of the main tile (the packed A's micro-panel height) for a product of
    /// `m >= 4` rows. AVX-512 has a 14×32 tile and an 8×48 one (as many accumulators),
    /// each with shorter tiles for a row block's last rows (so neither computes padding
    /// rows): the 8-row one below 64 rows, where it measured 2-8% faster on Zen 4 (8 to
    /// 48 rows of depth 512 and 2048); from 64 rows on the two were within 3% either way
    /// (64 to 1024 rows), and the 14-row tile is the one measured on the Xeon of earlier
    /// stops.
    fn mr(self, m: usize) -> usize {
        match self {
            Isa::Avx512 if m < 64 => 8,
            Isa::Avx512 => 14,
            Isa::Avx2 | Isa::Portable => 6,
        }
    }

    /// Panels of the main tile of `rows` rows.
    fn np(self, rows: usize) -> usize {
        match (self, rows) {
            (Isa::Avx512, 8) => 3,
            (Isa::Avx512, _) => 2,
            (Isa::Avx2 | Isa::Portable, _) => 1,
        }
    }

    /// Whether a product of `m` rows runs one wide tile of all its rows. On AVX-512 a
    /// 4-row product too: as the 8×48 tile's 4-row remainder (12 accumulators) it took
    /// 4.9 µs at 4 × 128 × 512, as a 4×96 tile (24) 3.5 µs, where 8 rows take 6.7 (a
    /// recurrent step of a batch of 8 split in halves).
    fn few(self, m: usize) -> bool {
        m < 4 || (self == Isa::Avx512 && m == 4)
    }

    /// Panels of a tile of [`Isa::few`] rows (wide, so that enough independent
    /// accumulators hide the FMA latency).
    fn wide(self, rows: usize) -> usize {
        match (self, rows) {
            (Isa::Avx512, 4) => 6,
            (Isa::Avx512, 1) => 8,
            (Isa::Avx512, 2) => 6,
            (Isa::Avx512, _) => 4,
            (_, 1) => 4,
            (_, 2) => 3,
            _ => 2,
        }
    }

    /// Rows of an A block (a multiple of the tile's `rows`): `mc × KC` packed floats
    /// stay in L2.
    fn mc(rows: usize) -> usize {
        rows * 8
    }
}

/// Whether the own GEMM runs AVX-512 tiles on this CPU. Inlined: kernels ask per row
/// (a stride-2 depthwise layer's calls were 4% of its time).
#[inline]
pub fn uses_avx512() -> bool {
    Isa::get() == Isa::Avx512
}

/// A `[k, n]` f32 matrix packed as `ceil(n / 16)` panels of `k × 16` floats each
/// (row `kk` of panel `p` holds columns `16p..16p + 16`, zero past `n`).
#[derive(Debug)]
pub struct PackedB {
    lines: Vec<Line>,
    k: usize,
    n: usize,
    /// The direction of the next few-row product's walk over the panels (`true`:
    /// last panel first). It alternates from one product to the next, so that a weight
    /// larger than L2 is read back in the order opposite to the last walk: the panels
    /// read last, still in L2, come first. Walked one way every time, each panel was
    /// evicted just before it was needed again.
    descending: std::sync::atomic::AtomicBool,
}

impl Clone for PackedB {
    fn clone(&self) -> PackedB {
        PackedB {
            lines: self.lines.clone(),
            k: self.k,
            n: self.n,
            descending: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl PartialEq for PackedB {
    fn eq(&self, other: &PackedB) -> bool {
        (self.k, self.n, &self.lines) == (other.k, other.n, &other.lines)
    }
}

/// One depth of one panel: 16 floats on a cache line of their own. A `Vec<f32>` is only
/// 16-byte aligned, and a panel load that spans two lines touches both: weights 32 bytes
/// off a line cost the 14×32 tile an eighth of its time on an MLP of 1024-wide layers.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
struct Line([f32; NR]);

impl PackedB {
    /// An empty packed matrix (`[0, 0]`), to be filled row by row (`size_for`, `put_row`).
    pub const fn empty() -> PackedB {
        PackedB {
            lines: Vec::new(),
            k: 0,
            n: 0,
            descending: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Packs `b` (`[k, n]`, any strides: a row-major weight `[n, k]` read as its
    /// transpose is `Mat { rows: k, cols: n, rs: 1, cs: k }`).
    pub fn pack(b: Mat<'_, f32>) -> Result<PackedB, KernelError> {
        let mut packed = PackedB::empty();
        packed.pack_into(b)?;
        Ok(packed)
    }

    /// [`PackedB::pack`] into this matrix's buffer, reused (grown if needed): for
    /// operands packed at every product (attention's keys and values), where the
    /// allocation cost as much as the packing.
    pub fn pack_into(&mut self, b: Mat<'_, f32>) -> Result<(), KernelError> {
        if !b.in_bounds() {
            return Err(KernelError::new(
                "a matrix operand is smaller than its shape",
            ));
        }
        let (k, n) = (b.rows, b.cols);
        let packed = self;
        packed.size_for(k, n)?;
        if n == 0 || k == 0 {
            return Ok(());
        }
        if n % NR != 0 && b.cs != 1 {
            // The last panel's padding columns, which only `put_row` writes.
            let last = (n / NR) * k;
            packed.lines[last..].fill(Line([0.0; NR]));
        }
        if b.cs == 1 {
            // Rows are contiguous: each panel row is one 16-float copy.
            for kk in 0..k {
                packed.put_row(kk, &b.data[kk * b.rs..kk * b.rs + n]);
            }
        } else if b.rs == 1 {
            // Columns are contiguous (a transposed row-major weight): column `j`'s `k`
            // floats land 16 apart inside its panel, which stays in L1. A whole panel's
            // 16 columns are the 16 rows of a row-major block: on AVX-512, transposed
            // 16 depths at a time (attention's keys, packed at every product, took a
            // twentieth of a transformer block float by float).
            #[cfg(target_arch = "x86_64")]
            let shuffled = has_avx512f();
            for (p, panel) in packed.panels_mut().chunks_exact_mut(k * NR).enumerate() {
                #[cfg(target_arch = "x86_64")]
                if shuffled && (p + 1) * NR <= n {
                    let columns = Mat {
                        data: b.data,
                        rows: NR,
                        cols: k,
                        rs: b.cs,
                        cs: 1,
                    };
                    pack_full_rows::<NR>(columns, p * NR * b.cs, k, panel);
                    continue;
                }
                for jj in 0..NR.min(n - p * NR) {
                    let col = &b.data[(p * NR + jj) * b.cs..][..k];
                    for (dst, v) in panel[jj..].iter_mut().step_by(NR).zip(col) {
                        *dst = *v;
                    }
                }
            }
        } else {
            for (p, panel) in packed.panels_mut().chunks_exact_mut(k * NR).enumerate() {
                let cols = NR.min(n - p * NR);
                for (kk, row) in panel.chunks_exact_mut(NR).enumerate() {
                    for (jj, v) in row[..cols].iter_mut().enumerate() {
                        // In bounds: kk < k and p * NR + jj < n, checked by `in_bounds`.
                        *v = b.data[kk * b.rs + (p * NR + jj) * b.cs];
                    }
                }
            }
        }
        Ok(())
    }

    /// Sizes the buffer for `[k, n]`, keeping what it holds, for a matrix given row by
    /// row: the caller then writes every row `kk < k` with [`PackedB::put_row`] (which
    /// writes the padding too). For operands built on the fly, such as a convolution's
    /// unrolled receptive fields, which then never exist unpacked.
    pub(crate) fn size_for(&mut self, k: usize, n: usize) -> Result<(), KernelError> {
        let len = n
            .div_ceil(NR)
            .checked_mul(k)
            .ok_or_else(|| KernelError::new("the packed matrix's size overflows"))?;
        crate::alloc::try_grow(&mut self.lines, len, Line([0.0; NR]))?;
        self.lines.truncate(len);
        self.k = k;
        self.n = n;
        Ok(())
    }

    /// Writes row `kk` (`n` floats) into its place in every panel.
    #[inline(always)]
    pub(crate) fn put_row(&mut self, kk: usize, row: &[f32]) {
        self.put_row_at(kk, 0, row);
    }

    /// Writes `row` as row `kk` of the panels from `first_panel` on (its last panel's
    /// columns past `row` zero): one of several blocks of columns packed side by side.
    #[inline(always)]
    pub(crate) fn put_row_at(&mut self, kk: usize, first_panel: usize, row: &[f32]) {
        let k = self.k;
        let mut chunks = row.chunks_exact(NR);
        for (p, src) in (&mut chunks).enumerate() {
            // As an array: a 64-byte move, where a slice copy was a `memmove` call per
            // panel row (a tenth of a short attention's time, packing its values).
            if let Ok(src) = <&[f32; NR]>::try_from(src) {
                self.lines[(first_panel + p) * k + kk].0 = *src;
            }
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let p = first_panel + row.len() / NR;
            let dst = &mut self.lines[p * k + kk].0;
            crate::layout::copy_short(&mut dst[..tail.len()], tail);
            dst[tail.len()..].fill(0.0);
        }
    }

    /// The panels, to be written in place (row `kk` of panel `p` at `(p * k + kk) *
    /// 16`), after [`PackedB::size_for`].
    pub(crate) fn panels_mut(&mut self) -> &mut [f32] {
        // SAFETY: `Line` is `repr(C)` over `[f32; 16]`, 64 bytes with no padding, so
        // `lines.len()` lines are `16 * lines.len()` initialized, contiguous floats,
        // borrowed mutably (and so exclusively) as long as `self`.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.lines.as_mut_ptr().cast::<f32>(),
                self.lines.len() * NR,
            )
        }
    }

    /// The direction of this product's walk over the panels (see
    /// [`PackedB::descending`]'s field), flipped for the next.
    fn next_walk_descends(&self) -> bool {
        self.descending
            .fetch_xor(true, std::sync::atomic::Ordering::Relaxed)
    }

    /// The packed matrix's `[k, n]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.k, self.n]
    }

    /// The packed floats (panels, zero-padded).
    pub fn as_slice(&self) -> &[f32] {
        // SAFETY: as in `panels_mut`, borrowed shared as long as `self`.
        unsafe {
            std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.lines.len() * NR)
        }
    }

    /// A `[k, n]` matrix from panels packed earlier in this layout ([`PackedB::as_slice`]
    /// of a matrix packed by the same code: build-time prepacked weights), refused unless
    /// it has the layout's length.
    pub fn from_panels(k: usize, n: usize, data: &[f32]) -> Result<PackedB, KernelError> {
        let len = n
            .div_ceil(NR)
            .checked_mul(k)
            .and_then(|v| v.checked_mul(NR));
        if len != Some(data.len()) {
            return Err(KernelError::new(format!(
                "{} packed floats for a [{k}, {n}] matrix in panels of {NR}",
                data.len()
            )));
        }
        let mut packed = PackedB::empty();
        packed.size_for(k, n)?;
        packed.panels_mut().copy_from_slice(data);
        Ok(packed)
    }
}

/// `c = alpha * a @ b + beta * c`, with `a` `[m, k]` (any strides), `b` packed, `c`
/// row-major `[m, n]`. `beta == 0` ignores what `c` holds (NaN included), as BLAS does.
pub fn gemm_packed(
    alpha: f32,
    a: Mat<'_, f32>,
    b: &PackedB,
    beta: f32,
    c: &mut [f32],
) -> Result<(), KernelError> {
    gemm_packed_on(
        Isa::get(),
        alpha,
        a,
        b,
        beta,
        GemmEpilogue::default(),
        COut::Init(c),
        None,
    )
}

/// What a packed product adds and applies where its tiles store, with the bits of doing
/// it after the product: no pass over `c` of its own.
#[derive(Clone, Copy, Debug, Default)]
pub struct GemmEpilogue<'a> {
    /// A row of `n` values added to every row of the product (a linear layer's bias),
    /// as `c` holding copies of it and `beta = 1` would; `None`: `beta * c`.
    pub bias: Option<&'a [f32]>,
    /// ReLU of the result, as the elementwise kernel computes it (`x < 0 ? 0 : x`: NaN
    /// and -0 kept).
    pub relu: bool,
    /// An `[m, n]` row-major matrix added to the product after the bias and before the
    /// ReLU, as the elementwise `c + x` after it would (a residual, or a recurrent
    /// step's input projection): added to each tile while it is in cache.
    pub addend: Option<&'a [f32]>,
    /// A function of each result, last (after the ReLU), with the elementwise kernel's
    /// bits ([`Unary::apply_f32_in_place`]): applied to each block of rows a thread
    /// computed while it is in cache (a GELU after a linear layer was a pass over the
    /// output of its own, read back from memory).
    pub unary: Option<Unary>,
}

/// `c = relu?(alpha * a @ b + (bias or beta * c) + addend?)`: [`gemm_packed`] with a
/// bias row, an addend and a ReLU applied by the tiles as they store ([`GemmEpilogue`]).
pub fn gemm_packed_epilogue(
    alpha: f32,
    a: Mat<'_, f32>,
    b: &PackedB,
    beta: f32,
    epilogue: GemmEpilogue<'_>,
    c: &mut [f32],
) -> Result<(), KernelError> {
    gemm_packed_on(Isa::get(), alpha, a, b, beta, epilogue, COut::Init(c), None)
}

/// A left operand `[m, k]` packed once in the tiles' micro-panels, for many products
/// with it: a convolution's weight against each sample's unrolled input, which packed
/// the same weight once per sample (8% of a batch of 3×3 convolutions).
pub struct PackedA {
    isa: Isa,
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl PackedA {
    /// Packs `a` for this CPU's tiles.
    pub fn pack(a: Mat<'_, f32>) -> Result<PackedA, KernelError> {
        if !a.in_bounds() {
            return Err(KernelError::new(
                "a matrix operand is smaller than its shape",
            ));
        }
        let isa = Isa::get();
        Ok(PackedA {
            isa,
            rows: a.rows,
            cols: a.cols,
            // For products of many columns (one panel's take the 8-row tile in place).
            data: pack_all_a(isa, a, usize::MAX)?,
        })
    }
}

/// [`gemm_packed`] with `a` also given packed (`packed_a`, from the same `a`).
pub fn gemm_packed_a(
    alpha: f32,
    a: Mat<'_, f32>,
    packed_a: &PackedA,
    b: &PackedB,
    beta: f32,
    c: &mut [f32],
) -> Result<(), KernelError> {
    if (packed_a.rows, packed_a.cols) != (a.rows, a.cols) {
        return Err(KernelError::new(
            "the packed left operand is not the product's",
        ));
    }
    gemm_packed_on(
        packed_a.isa,
        alpha,
        a,
        b,
        beta,
        GemmEpilogue::default(),
        COut::Init(c),
        Some(&packed_a.data),
    )
}

/// Weights of at least this many floats are split over threads even for products of
/// few rows: each core then reads its share of the weight from its own cache.
const PAR_MIN_WEIGHT: usize = 1 << 17;

/// Whether a product of an `[m, k]` matrix by `b` (`n` columns) is big enough to be
/// split over the pool: enough multiply-adds, or a weight large enough that each core
/// should read its share from its own cache. An epilogue on a product that ran on one
/// core stays there too: the output is in that core's cache. (Splitting from 2^18
/// multiply-adds, as stop 36 did for an LSTM's 8 × 512 × 128 recurrent steps, made the
/// interpreter's 2-thread calls of that model slower than its 1-thread ones, 2.4–3.1 ms
/// against 2.2: 64 hand-offs a call, each at the scheduler's mercy. The compiled
/// runtime now splits such a model along its batch instead.)
pub fn splits_product(m: usize, n: usize, k: usize, b: &PackedB) -> bool {
    m.saturating_mul(n).saturating_mul(k) >= crate::threads::PAR_MIN_MACS
        || b.lines.len() * NR >= PAR_MIN_WEIGHT
}

/// Where a product stores: floats that hold values (`beta * c` may read them), or fresh
/// memory that only the product's stores write (read never: `beta` is taken as 0).
enum COut<'a> {
    Init(&'a mut [f32]),
    Fresh(&'a mut [std::mem::MaybeUninit<f32>]),
}

/// New row-major products `relu?(alpha * a @ b + bias + addend?)`, one `[a.rows, n]` block per
/// matrix of `parts`, stacked: the output is written by the products' stores alone, with
/// no zero fill first. A fill is a pass over memory of its own and, on two threads, left
/// the part of the output each worker stores in the other core's cache (an eager MLP of
/// 1024-wide layers spent a tenth of its time there).
pub fn gemm_packed_new(
    alpha: f32,
    parts: &[Mat<'_, f32>],
    b: &PackedB,
    epilogue: GemmEpilogue<'_>,
) -> Result<Vec<f32>, KernelError> {
    let n = b.n;
    let len = parts
        .iter()
        .try_fold(0usize, |sum, a| {
            a.rows.checked_mul(n).and_then(|l| sum.checked_add(l))
        })
        .ok_or_else(|| KernelError::new("the product's size overflows"))?;
    let mut out: Vec<f32> = crate::alloc::try_with_capacity(len)?;
    let mut at = 0;
    for a in parts {
        let part = &mut out.spare_capacity_mut()[at..at + a.rows * n];
        // The addend's rows of this part.
        let addend = match epilogue.addend {
            Some(x) => Some(
                x.get(at..)
                    .ok_or_else(|| KernelError::new("the addend is smaller than the product"))?,
            ),
            None => None,
        };
        gemm_packed_on(
            Isa::get(),
            alpha,
            *a,
            b,
            0.0,
            GemmEpilogue { addend, ..epilogue },
            COut::Fresh(part),
            None,
        )?;
        at += a.rows * n;
    }
    // SAFETY: the parts cover the `len` floats, and each product that returned `Ok`
    // stored every float of its `a.rows × n` block (every tile writes its rows and
    // columns at the first k block; `k = 0` writes them all), reading none.
    unsafe { out.set_len(len) };
    Ok(out)
}

/// The `len` floats of a product of depth 0 (`n` columns): its bias or `beta * c`, its
/// ReLU and its function.
///
/// # Safety
/// `c` points at `len` writable floats, initialized unless `beta == 0` (then never read).
unsafe fn store_without_depth(c: *mut f32, len: usize, n: usize, beta: f32, e: GemmEpilogue<'_>) {
    for i in 0..len {
        let v = match e.bias {
            Some(row) => row[i % n],
            None if beta == 0.0 => 0.0,
            // SAFETY: i < len, and `beta != 0` only for initialized floats.
            None => beta * unsafe { c.add(i).read() },
        };
        let v = match e.addend {
            Some(x) => v + x[i],
            None => v,
        };
        let v = if e.relu { relu(v) } else { v };
        // SAFETY: i < len: inside `c`.
        unsafe { c.add(i).write(v) };
    }
    if let Some(op) = e.unary {
        // SAFETY: `c` points at `len` floats, all written just above.
        op.apply_f32_in_place(unsafe { std::slice::from_raw_parts_mut(c, len) });
    }
}

/// The shapes of a product of `a` by `b` into `c_len` floats, with `epilogue`.
fn check_operands(
    a: Mat<'_, f32>,
    b: &PackedB,
    epilogue: GemmEpilogue<'_>,
    c_len: usize,
) -> Result<(), KernelError> {
    let (m, k, n) = (a.rows, a.cols, b.n);
    if let Some(bias) = epilogue.bias.filter(|row| row.len() != n) {
        return Err(KernelError(format!(
            "a bias of {} values for a product of {n} columns",
            bias.len()
        )));
    }
    if k != b.k {
        return Err(KernelError(format!(
            "mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {}x{n})",
            b.k
        )));
    }
    let fits = m.checked_mul(n).is_some_and(|len| c_len >= len);
    let addend_fits =
        (epilogue.addend).is_none_or(|x| m.checked_mul(n).is_some_and(|len| x.len() >= len));
    if !a.in_bounds() || !fits || !addend_fits || b.lines.len() != n.div_ceil(NR) * k {
        return Err(KernelError::new(
            "a matrix operand is smaller than its shape",
        ));
    }
    Ok(())
}

/// [`gemm_packed`] on the tiles of `isa` (which must run on this CPU).
#[allow(clippy::too_many_arguments)]
fn gemm_packed_on(
    isa: Isa,
    alpha: f32,
    a: Mat<'_, f32>,
    b: &PackedB,
    beta: f32,
    epilogue: GemmEpilogue<'_>,
    c: COut<'_>,
    packed_a: Option<&[f32]>,
) -> Result<(), KernelError> {
    let (m, k, n) = (a.rows, a.cols, b.n);
    // Fresh memory is never read: its products take `beta = 0`.
    let (c, c_len, beta) = match c {
        COut::Init(c) => (c.as_mut_ptr(), c.len(), beta),
        COut::Fresh(c) => (c.as_mut_ptr().cast::<f32>(), c.len(), 0.0),
    };
    check_operands(a, b, epilogue, c_len)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        // SAFETY: `c` holds `c_len >= m * n` floats, initialized unless `beta == 0`.
        unsafe { store_without_depth(c, m * n, n, beta, epilogue) };
        return Ok(());
    }
    let panels = n.div_ceil(NR);
    // Units of panels one tile spans, split into a few ranges per thread.
    let unit = if isa.few(m) {
        isa.wide(m)
    } else {
        isa.np(tile_rows(isa, a, n))
    };
    let units = panels.div_ceil(unit);
    let threads = num_threads().min(units / 2);
    let big = splits_product(m, n, k, b);
    // A packed by the caller, unless the tiles read it in place.
    let packed_a = packed_a.filter(|_| !reads_a_directly(isa, a, n));
    // Few rows stream the weight, and only its panels' order can change (k blocks are
    // summed in order): a product of many rows reads each panel block many times.
    let descending = isa.few(m) && b.next_walk_descends();
    if threads <= 1 || !big {
        run_panels(
            isa,
            alpha,
            a,
            b,
            beta,
            epilogue,
            CPtr(c),
            Walk {
                panels: 0..panels,
                descending,
            },
            packed_a,
        );
        return Ok(());
    }
    let ptr = CPtr(c);
    let ranges: Vec<std::ops::Range<usize>> = split_ranges(units, (threads * 4).min(units))
        .into_iter()
        .map(|r| r.start * unit..(r.end * unit).min(panels))
        .collect();
    // A is packed once and shared: packing it per range cost as much as a third of a
    // mid-size product (a range of 4 panels does ~2 FMAs' worth of work per packed float).
    let shared = match (packed_a, m.checked_mul(k)) {
        (Some(_), _) => None,
        (None, Some(len)) if len <= SHARED_A_MAX && !reads_a_directly(isa, a, n) => {
            Some(pack_all_a(isa, a, n)?)
        }
        _ => None,
    };
    let shared = packed_a.or(shared.as_deref());
    let ok = for_each_range(&ranges, |_, r| {
        let walk = Walk {
            panels: r,
            descending,
        };
        run_panels(isa, alpha, a, b, beta, epilogue, ptr, walk, shared);
    });
    if ok {
        Ok(())
    } else {
        Err(KernelError::new("a GEMM worker thread failed"))
    }
}

/// The most floats of A packed once for all threads of a product (16 MiB); a larger A
/// is packed block by block in each thread's range, where it is cheap beside the work.
const SHARED_A_MAX: usize = 1 << 22;

/// Whether the tiles read A where it lies instead of from packed micro-panels: on
/// AVX-512, for row-major rows, on products of few rows or of at most [`DIRECT_MAX_N`]
/// columns, where packing A was the largest cost of a small product (28% of the
/// tutorial module's generated `forward`: 8 rows against one 16-column panel). Wider
/// products keep packing, which their many panels amortise.
fn reads_a_directly(isa: Isa, a: Mat<'_, f32>, n: usize) -> bool {
    isa == Isa::Avx512 && a.cs == 1 && (isa.few(a.rows) || n <= DIRECT_MAX_N)
}

/// The widest product whose tiles read a row-major A in place: 16 weight panels. At 128
/// rows, reading A in place against packing it was 9.0 -> 7.2 us at 64 columns, 17.3
/// -> 13.7 at 128×128×64 and 26 -> 22 at 64×192, and 256×1024×128 went 531 -> 495 us;
/// even at 256 columns, and 3-8% slower at 256×1024×512, where packing pays.
const DIRECT_MAX_N: usize = 16 * NR;

/// Rows of the main tile of a product of `a.rows >= 4` rows and `n` columns:
/// [`Isa::mr`], or on AVX-512 the 8-row tile for a row-major A against one panel, which
/// then reads A in place: packing A cost more than such a product (an MLP's last layer,
/// 64×512 against 10 columns: 19 → 9 µs).
fn tile_rows(isa: Isa, a: Mat<'_, f32>, n: usize) -> usize {
    if isa == Isa::Avx512 && a.cs == 1 && n <= NR {
        8
    } else {
        isa.mr(a.rows)
    }
}

/// The row-block geometry of a product of `a` by `n` columns: rows per micro-panel and
/// rows per packed block.
fn a_blocks(isa: Isa, a: Mat<'_, f32>, n: usize) -> (usize, usize) {
    let (m, mr) = (a.rows, tile_rows(isa, a, n));
    if isa.few(m) {
        (m, m)
    } else {
        (mr, Isa::mc(mr).min(m.div_ceil(mr) * mr))
    }
}

/// Floats of one packed A block of `mc` rows and depth `kc`.
fn block_len(mc: usize, rows_per: usize, kc: usize) -> usize {
    mc.div_ceil(rows_per) * rows_per * kc
}

/// All of `a` packed, block after block in the order [`run_panels`] reads them (k
/// blocks outer, row blocks inner); the blocks are packed on the pool.
fn pack_all_a(isa: Isa, a: Mat<'_, f32>, n: usize) -> Result<Vec<f32>, KernelError> {
    let (m, k) = (a.rows, a.cols);
    let (rows_per, mc_max) = a_blocks(isa, a, n);
    // (pc, kc, ic, mc) of each block, in reading order.
    let mut blocks = Vec::new();
    let mut pc = 0;
    while pc < k {
        let kc = k_block(m, k).min(k - pc);
        let mut ic = 0;
        while ic < m {
            let mc = mc_max.min(m - ic);
            blocks.push((pc, kc, ic, mc));
            ic += mc;
        }
        pc += kc;
    }
    let total = blocks
        .iter()
        .map(|&(_, kc, _, mc)| block_len(mc, rows_per, kc))
        .sum();
    let mut out = try_filled(total, 0f32)?;
    let mut parts: Vec<std::sync::Mutex<&mut [f32]>> = Vec::with_capacity(blocks.len());
    let mut rest: &mut [f32] = &mut out;
    for &(_, kc, _, mc) in &blocks {
        let (part, tail) = rest.split_at_mut(block_len(mc, rows_per, kc));
        parts.push(std::sync::Mutex::new(part));
        rest = tail;
    }
    let ranges: Vec<std::ops::Range<usize>> = (0..blocks.len()).map(|i| i..i + 1).collect();
    let ok = for_each_range(&ranges, |i, _| {
        if let (Some(&(pc, kc, ic, mc)), Some(Ok(mut part))) =
            (blocks.get(i), parts.get(i).map(|p| p.lock()))
        {
            pack_a(a, ic, mc, pc, kc, rows_per, &mut part);
        }
    });
    drop(parts);
    if ok {
        Ok(out)
    } else {
        Err(KernelError::new("a GEMM worker thread failed"))
    }
}

/// The panels a thread computes, and in which order.
struct Walk {
    panels: std::ops::Range<usize>,
    /// Last panel first ([`PackedB::next_walk_descends`]).
    descending: bool,
}

/// `c`'s base pointer, shared by the threads of one product: each writes only the
/// columns of its own panels.
#[derive(Clone, Copy)]
struct CPtr(*mut f32);
// SAFETY: the threads of `gemm_packed` write disjoint column ranges of `c` (their panel
// ranges do not overlap), and `c`'s borrow outlives the scope that joins them.
unsafe impl Send for CPtr {}
// SAFETY: as for `Send`: shared only to write disjoint elements.
unsafe impl Sync for CPtr {}

/// The product's columns `16 * panels.start .. min(n, 16 * panels.end)`, on one thread,
/// reading A from `shared` (all of it packed by [`pack_all_a`]) or packing it block by
/// block. The caller checked the shapes: `a` in bounds, `b` packed `[k, n]` with
/// `k = a.cols`, `c` holding `a.rows * n` floats.
#[allow(clippy::too_many_arguments)]
fn run_panels(
    isa: Isa,
    alpha: f32,
    a: Mat<'_, f32>,
    b: &PackedB,
    beta: f32,
    epilogue: GemmEpilogue<'_>,
    c: CPtr,
    walk: Walk,
    shared: Option<&[f32]>,
) {
    let (m, k) = (a.rows, a.cols);
    // Few rows: one micro-panel of all `m` rows and a wide tile; else `mr`-row panels.
    let (rows_per, mc_max) = a_blocks(isa, a, b.n);
    let direct = reads_a_directly(isa, a, b.n);
    let own_len = match (shared, direct) {
        (None, false) => block_len(mc_max, rows_per, k_block(m, k).min(k)),
        _ => 0,
    };
    with_pack_scratch(own_len, |own| {
        let (mut at, mut pc) = (0, 0);
        while pc < k {
            let kc = k_block(m, k).min(k - pc);
            // The first k block adds the bias row or `beta * c`; later ones their sum.
            let (beta_here, first_bias) = match epilogue.bias {
                Some(row) if pc == 0 => (1.0, row.as_ptr()),
                _ if pc == 0 => (beta, std::ptr::null()),
                _ => (1.0, std::ptr::null()),
            };
            let mut ic = 0;
            while ic < m {
                let mc = mc_max.min(m - ic);
                let len = block_len(mc, rows_per, kc);
                let apack = match (shared, direct) {
                    // Row `ic`, depth `pc` onwards, `a.rs` floats between rows.
                    (_, true) => APanels::Direct(&a.data[ic * a.rs + pc..]),
                    (Some(all), false) => APanels::Packed(&all[at..at + len]),
                    (None, false) => {
                        pack_a(a, ic, mc, pc, kc, rows_per, &mut own[..len]);
                        APanels::Packed(&own[..len])
                    }
                };
                at += len;
                let last = pc + kc == k;
                let addend = match epilogue.addend {
                    Some(x) if last => x.as_ptr(),
                    _ => std::ptr::null(),
                };
                let tile = Tile {
                    kc,
                    ldc: b.n,
                    lda: a.rs,
                    alpha,
                    beta: beta_here,
                    bias: first_bias,
                    // After the addend, when there is one ([`add_addend`]).
                    relu: epilogue.relu && last && addend.is_null(),
                    addend,
                    addend_relu: epilogue.relu && last,
                };
                if isa.few(m) {
                    few_rows(isa, &tile, apack, b, pc, c, ic, mc, &walk);
                } else {
                    let at = RowBlock {
                        ic,
                        mc,
                        rows: rows_per,
                    };
                    many_rows(isa, &tile, apack, b, pc, c, at, walk.panels.clone());
                }
                if let (Some(op), true) = (epilogue.unary, last) {
                    let cols = (walk.panels.start * NR).min(b.n)..(walk.panels.end * NR).min(b.n);
                    for r in ic..ic + mc {
                        // SAFETY: `c` holds `m * n` floats (the caller checked); row
                        // `r < m`, columns `cols` within `n`: this thread's panels, which
                        // no other thread writes (`CPtr`), all stored by the tiles just
                        // above (the last k block), on this thread.
                        let row = unsafe {
                            std::slice::from_raw_parts_mut(
                                c.0.add(r * b.n + cols.start),
                                cols.len(),
                            )
                        };
                        op.apply_f32_in_place(row);
                    }
                }
                ic += mc;
            }
            pc += kc;
        }
    });
}

/// Runs `f` with a scratch buffer of `len` floats for packing blocks of A: this thread's
/// own, kept between products (grown once to the largest block: `MC × KC` at most, or
/// the `m × k` floats of a product of fewer than 4 rows, no more than A itself), so a
/// product allocates nothing once it has run on a thread (the generated code of
/// `ferrex-aot` counts on it).
fn with_pack_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut v) => {
            if v.len() < len {
                v.resize(len, 0.0);
            }
            f(&mut v[..len])
        }
        // Not reached (packing never re-enters); a fresh buffer keeps it correct.
        Err(_) => f(&mut vec![0f32; len]),
    })
}

/// Packs `a[i0..i0 + mc, p0..p0 + kc]` as micro-panels of `rows` rows: row `r`, depth
/// `kk` of panel `q` at `q * kc * rows + kk * rows + r`, rows past `mc` zero.
fn pack_a(
    a: Mat<'_, f32>,
    i0: usize,
    mc: usize,
    p0: usize,
    kc: usize,
    rows: usize,
    out: &mut [f32],
) {
    for (q, panel) in out[..mc.div_ceil(rows) * rows * kc]
        .chunks_exact_mut(rows * kc)
        .enumerate()
    {
        if a.rs == 1 {
            // A column-major (a transposed operand): a panel's rows at one depth are
            // contiguous in A, so each depth is one copy (inline: a `memmove` call per
            // depth was a twentieth of a short attention, whose probabilities are read
            // so).
            let valid = rows.min(mc - q * rows);
            for (kk, dst) in panel.chunks_exact_mut(rows).enumerate() {
                let base = i0 + q * rows + (p0 + kk) * a.cs;
                crate::layout::copy_short(&mut dst[..valid], &a.data[base..base + valid]);
                dst[valid..].fill(0.0);
            }
            continue;
        }
        // Whole row-major panels of the AVX-512 tiles' heights: by lane shuffles (those
        // heights are the AVX-512 tiles' only; elsewhere, tests, element by element).
        #[cfg(target_arch = "x86_64")]
        if Isa::get() == Isa::Avx512 && a.cs == 1 && q * rows + rows <= mc && matches!(rows, 8 | 14)
        {
            let first = (i0 + q * rows) * a.rs + p0;
            match rows {
                14 => pack_full_rows::<14>(a, first, kc, panel),
                _ => pack_full_rows::<8>(a, first, kc, panel),
            }
            continue;
        }
        for r in 0..rows {
            let i = q * rows + r;
            if i >= mc {
                for kk in 0..kc {
                    panel[kk * rows + r] = 0.0;
                }
                continue;
            }
            let base = (i0 + i) * a.rs + p0 * a.cs;
            if a.cs == 1 {
                let src = &a.data[base..base + kc];
                for (kk, v) in src.iter().enumerate() {
                    panel[kk * rows + r] = *v;
                }
            } else {
                for kk in 0..kc {
                    panel[kk * rows + r] = a.data[base + kk * a.cs];
                }
            }
        }
    }
}

/// `R <= 16` whole row-major rows of A (`kc` floats from `first`, the next rows `a.rs`
/// apart) into a micro-panel (depth `kk`'s `R` floats at `kk * R`), 16 depths at a time
/// by AVX-512 lane shuffles ([`avx512::transpose_rows`]): packing element by element
/// was a fifth of a transformer block's time. The caller detected AVX-512F.
#[cfg(target_arch = "x86_64")]
fn pack_full_rows<const R: usize>(a: Mat<'_, f32>, first: usize, kc: usize, panel: &mut [f32]) {
    const D: usize = 16;
    let mut dsts = panel[..kc * R].chunks_exact_mut(D * R);
    let mut kb = 0;
    for dst in &mut dsts {
        // Rows `0..R` of this depth block: `R - 1` row strides and 16 floats.
        let rows = &a.data[first + kb..first + (R - 1) * a.rs + kb + D];
        // SAFETY: the caller detected AVX-512F; `rows` holds row `r < R`'s 16 floats at
        // `r * a.rs`, and `dst` holds the `16 * R` floats the block's 16 depths fill.
        unsafe { avx512::transpose_rows::<R>(rows.as_ptr(), a.rs, dst.as_mut_ptr(), R) };
        kb += D;
    }
    for (kk, dst) in dsts.into_remainder().chunks_exact_mut(R).enumerate() {
        for (r, v) in dst.iter_mut().enumerate() {
            *v = a.data[first + r * a.rs + kb + kk];
        }
    }
}

/// What every micro-tile of one k block shares.
struct Tile {
    kc: usize,
    ldc: usize,
    /// Floats between A's rows where A is read directly ([`APanels::Direct`]).
    lda: usize,
    alpha: f32,
    beta: f32,
    /// A bias row (`n` floats, already scaled) that the first k block adds in place of
    /// `beta * c`, or null.
    bias: *const f32,
    /// ReLU of what is stored (the last k block of a product with [`GemmEpilogue::relu`]
    /// and no addend).
    relu: bool,
    /// The `[m, n]` addend (`ldc` floats between rows) that the last k block adds to
    /// what it stored ([`add_addend`]), or null.
    addend: *const f32,
    /// ReLU after the addend.
    addend_relu: bool,
}

impl Tile {
    /// Floats between the rows of what `beta` scales ([`Operands::src`]): `ldc` for `c`
    /// itself, 0 for a bias row.
    fn src_ld(&self) -> usize {
        if self.bias.is_null() {
            self.ldc
        } else {
            0
        }
    }

    /// What `beta` scales for the tile at `c` (column `j0`): the bias row's columns from
    /// `j0`, or `c` itself.
    fn src(&self, c: *mut f32, j0: usize) -> *const f32 {
        if self.bias.is_null() {
            c
        } else {
            self.bias.wrapping_add(j0)
        }
    }
}

/// One block of A's rows as the tiles read it.
#[derive(Clone, Copy)]
enum APanels<'a> {
    /// Packed by [`pack_a`]: micro-panels of `rows` rows, `rows` floats per depth.
    Packed(&'a [f32]),
    /// A itself from the block's first row and depth: row `r`, depth `kk` at
    /// `r * lda + kk` ([`reads_a_directly`]).
    Direct(&'a [f32]),
}

impl APanels<'_> {
    /// The start of the micro-panel of the block's rows `ir..` (depth `kk` = 0).
    fn at_row(self, ir: usize, t: &Tile) -> *const f32 {
        match self {
            APanels::Packed(p) => p[ir * t.kc..].as_ptr(),
            // `ir` is a row of the block, in bounds (the caller checked `a`).
            APanels::Direct(d) => d.as_ptr().wrapping_add(ir * t.lda),
        }
    }

    fn is_direct(self) -> bool {
        matches!(self, APanels::Direct(_))
    }
}

/// A micro-tile's operands: A at the tile's first row (packed: `rows` floats per
/// depth; direct: `lda` floats between rows), the first of its weight panels (the
/// next ones `pstride` floats apart), `c` at the tile's corner, and how many of its
/// rows and columns are real.
struct Operands {
    a: *const f32,
    b: *const f32,
    pstride: usize,
    c: *mut f32,
    /// The tile of the term `beta` scales: `c` itself, or a bias row (rows
    /// `t.src_ld()` apart, the same for every row).
    src: *const f32,
    mr: usize,
    nr: usize,
    /// Weights the next tile column will read, prefetched into L2 by this tile: at each
    /// of its first `pf_depths` depths, one line of each of its panels (`pstride` apart,
    /// like `b`'s). Prefetches never fault, so `pf` needs no bounds.
    pf: *const f32,
    pf_depths: usize,
    /// The addend's tile (rows `t.ldc` apart), when `t.addend` is not null.
    add: *const f32,
}

/// A block of A's rows: `ic..ic + mc`, packed in micro-panels of `rows` rows.
#[derive(Clone, Copy)]
struct RowBlock {
    ic: usize,
    mc: usize,
    rows: usize,
}

/// A block of rows (packed in `apack`) times panels, `isa.np(rows)` panels per tile.
#[allow(clippy::too_many_arguments)]
fn many_rows(
    isa: Isa,
    t: &Tile,
    apack: APanels<'_>,
    b: &PackedB,
    pc: usize,
    c: CPtr,
    at: RowBlock,
    panels: std::ops::Range<usize>,
) {
    let (k, n, rows) = (b.k, b.n, at.rows);
    let (ic, mc) = (at.ic, at.mc);
    let mut p = panels.start;
    while p < panels.end {
        // A full tile, or single panels for the rest (the tiles instantiated).
        let full = isa.np(rows);
        let np = if p + full <= panels.end { full } else { 1 };
        let j0 = p * NR;
        let boff = (p * k + pc) * NR;
        // The next tile column's weights come from L3 or memory: each tile of this
        // column prefetches its share of their depths into L2, so the next column's
        // first tile does not wait on them (a tile reads a depth's two panel lines
        // every 14 cycles, faster than one core streams from L3).
        let next = if p + np < panels.end {
            b.as_slice()[((p + np) * k + pc) * NR..].as_ptr()
        } else {
            std::ptr::null()
        };
        let share = t.kc.div_ceil(mc.div_ceil(rows));
        let mut ir = 0;
        while ir < mc {
            let mr = rows.min(mc - ir);
            let first = (ir / rows) * share;
            let corner = c.0.wrapping_add((ic + ir) * n + j0);
            let ops = Operands {
                a: apack.at_row(ir, t),
                b: b.as_slice()[boff..].as_ptr(),
                pstride: k * NR,
                // In bounds: (ic + ir) < m and j0 < n, so the offset is inside `c`.
                c: corner,
                src: t.src(corner, j0),
                mr,
                nr: (np * NR).min(n - j0),
                pf: next.wrapping_add(first * NR),
                pf_depths: if next.is_null() {
                    0
                } else {
                    share.min(t.kc.saturating_sub(first))
                },
                add: t.addend.wrapping_add((ic + ir) * n + j0),
            };
            // SAFETY: `apack` holds the micro-panel (packed: `rows * kc` floats from
            // `ir * kc`; direct: rows `ic + ir .. + mr` (< m) of `a`, depths `pc .. pc +
            // kc`, in bounds as the caller checked), panels `p..p + np` (< panels.end)
            // have `kc` depths from `pc` (`pc + kc <= k`), and `c`'s tile rows
            // `ic + ir .. + mr` (< m) and columns `j0 .. j0 + nr` (<= n) lie in the
            // `m * n` floats the caller checked.
            unsafe { micro(isa, t, &ops, rows, np, apack.is_direct()) };
            if !t.addend.is_null() && isa != Isa::Avx512 {
                // SAFETY: the tile as above; the addend holds `m * n` floats (checked),
                // the same offsets as `c`'s.
                unsafe { add_addend(t, &ops) };
            }
            ir += mr;
        }
        p += np;
    }
}

/// All `mc < 4` rows at once, with tiles several panels wide, walked first panel first or
/// last panel first.
#[allow(clippy::too_many_arguments)]
fn few_rows(
    isa: Isa,
    t: &Tile,
    apack: APanels<'_>,
    b: &PackedB,
    pc: usize,
    c: CPtr,
    ic: usize,
    mc: usize,
    walk: &Walk,
) {
    let (k, n) = (b.k, b.n);
    let wide = isa.wide(mc);
    let panels = &walk.panels;
    // Tiles of `wide` panels from the start, then single panels.
    let full = (panels.end - panels.start) / wide;
    let singles_from = panels.start + full * wide;
    let tile_at = |i: usize| {
        if i < full {
            (panels.start + i * wide, wide)
        } else {
            (singles_from + (i - full), 1)
        }
    };
    let tiles = full + (panels.end - singles_from);
    for i in 0..tiles {
        let (p, np) = tile_at(if walk.descending { tiles - 1 - i } else { i });
        let j0 = p * NR;
        let corner = c.0.wrapping_add(ic * n + j0);
        let ops = Operands {
            a: apack.at_row(0, t),
            b: b.as_slice()[(p * k + pc) * NR..].as_ptr(),
            pstride: k * NR,
            c: corner,
            src: t.src(corner, j0),
            mr: mc,
            nr: (np * NR).min(n - j0),
            pf: std::ptr::null(),
            pf_depths: 0,
            add: t.addend.wrapping_add(ic * n + j0),
        };
        // SAFETY: as in `many_rows`: `apack` holds `mc` rows of `kc` depths, panels
        // `p..p + np` (< panels.end <= ceil(n / NR)) have `kc` depths from `pc`, and
        // the tile's `mc` rows and `nr` columns from `j0` lie inside `c`.
        unsafe { micro(isa, t, &ops, mc, np, apack.is_direct()) };
        if !t.addend.is_null() && isa != Isa::Avx512 {
            // SAFETY: the tile as above, at the same offsets in the `m * n` addend.
            unsafe { add_addend(t, &ops) };
        }
    }
}

/// One micro-tile: `o.mr <= rows` rows, `np` panels, on the ISA's tile of that
/// geometry; A packed (row stride 1, depth stride `rows`) or, when `direct`, read where
/// it lies (row stride `t.lda`, depth stride 1; only the AVX-512 tiles are asked to).
///
/// # Safety
/// `o.a` points at `rows * t.kc` packed floats (or, when `direct`, at `o.mr` rows of
/// `t.kc` floats `t.lda` apart), `o.b` at `np` panels of `t.kc * NR` floats
/// `o.pstride` apart, and `o.c` at a tile of `o.mr` rows (`t.ldc` apart) of `o.nr`
/// writable floats; `isa` runs on this CPU.
unsafe fn micro(isa: Isa, t: &Tile, o: &Operands, rows: usize, np: usize, direct: bool) {
    // SAFETY (all arms): the ISA was detected at run time; each tile reads `np` panels
    // and A's rows as the caller promised, and writes `o.mr` rows (`o.mr <= rows`).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        use avx512::tile as t512;
        // A row block's last rows: a shorter tile over the same micro-panel, rather than
        // the full one computing zero rows.
        if isa == Isa::Avx512 && rows >= 4 && o.mr.next_multiple_of(2) < rows {
            return match (np, direct) {
                (3, false) => avx512::remainder::<3, false>(t, o, rows),
                (3, true) => avx512::remainder::<3, true>(t, o, rows),
                (2, false) => avx512::remainder::<2, false>(t, o, rows),
                (2, true) => avx512::remainder::<2, true>(t, o, rows),
                (_, false) => avx512::remainder::<1, false>(t, o, rows),
                (_, true) => avx512::remainder::<1, true>(t, o, rows),
            };
        }
        if isa == Isa::Avx2 && rows == 6 && o.mr <= 4 {
            return match o.mr {
                0..=2 => avx2::tile::<2, 2>(t, o, 6),
                _ => avx2::tile::<4, 2>(t, o, 6),
            };
        }
        match (isa, rows, np, direct) {
            (Isa::Avx512, 14, 2, false) => return t512::<14, 2, false>(t, o, 14),
            (Isa::Avx512, 14, _, false) => return t512::<14, 1, false>(t, o, 14),
            (Isa::Avx512, 8, 3, false) => return t512::<8, 3, false>(t, o, 8),
            (Isa::Avx512, 8, _, false) => return t512::<8, 1, false>(t, o, 8),
            (Isa::Avx512, 1, 8, false) => return t512::<1, 8, false>(t, o, 1),
            (Isa::Avx512, 1, _, false) => return t512::<1, 1, false>(t, o, 1),
            (Isa::Avx512, 2, 6, false) => return t512::<2, 6, false>(t, o, 2),
            (Isa::Avx512, 2, _, false) => return t512::<2, 1, false>(t, o, 2),
            (Isa::Avx512, 3, 4, false) => return t512::<3, 4, false>(t, o, 3),
            (Isa::Avx512, 4, 6, false) => return t512::<4, 6, false>(t, o, 4),
            (Isa::Avx512, 4, _, false) => return t512::<4, 1, false>(t, o, 4),
            (Isa::Avx512, 3, _, false) => return t512::<3, 1, false>(t, o, 3),
            (Isa::Avx512, 14, 2, true) => return t512::<14, 2, true>(t, o, 14),
            (Isa::Avx512, 14, _, true) => return t512::<14, 1, true>(t, o, 14),
            (Isa::Avx512, 8, 3, true) => return t512::<8, 3, true>(t, o, 8),
            (Isa::Avx512, 8, _, true) => return t512::<8, 1, true>(t, o, 8),
            (Isa::Avx512, 1, 8, true) => return t512::<1, 8, true>(t, o, 1),
            (Isa::Avx512, 1, _, true) => return t512::<1, 1, true>(t, o, 1),
            (Isa::Avx512, 2, 6, true) => return t512::<2, 6, true>(t, o, 2),
            (Isa::Avx512, 2, _, true) => return t512::<2, 1, true>(t, o, 2),
            (Isa::Avx512, 3, 4, true) => return t512::<3, 4, true>(t, o, 3),
            (Isa::Avx512, 4, 6, true) => return t512::<4, 6, true>(t, o, 4),
            (Isa::Avx512, 4, _, true) => return t512::<4, 1, true>(t, o, 4),
            (Isa::Avx512, 3, _, true) => return t512::<3, 1, true>(t, o, 3),
            (Isa::Avx2, 6, _, false) => return avx2::tile::<6, 2>(t, o, 6),
            (Isa::Avx2, 1, 4, false) => return avx2::tile::<1, 8>(t, o, 1),
            (Isa::Avx2, 1, _, false) => return avx2::tile::<1, 2>(t, o, 1),
            (Isa::Avx2, 2, 3, false) => return avx2::tile::<2, 6>(t, o, 2),
            (Isa::Avx2, 2, _, false) => return avx2::tile::<2, 2>(t, o, 2),
            (Isa::Avx2, 3, 2, false) => return avx2::tile::<3, 4>(t, o, 3),
            (Isa::Avx2, 3, _, false) => return avx2::tile::<3, 2>(t, o, 3),
            _ => {}
        }
    }
    let _ = isa;
    // SAFETY: forwarded.
    unsafe { portable(t, o, rows, np, direct) }
}

/// Adds the addend's tile to what the tile stored, then ReLU if asked: the bits of the
/// elementwise `c + x` (and ReLU) after the product, while the tile is in L1 (a separate
/// pass over an 8×512 recurrent step's gates cost as much as a tenth of its product).
/// The AVX-512 tiles add it in their store instead.
///
/// # Safety
/// `o.c` as for [`micro`]; `o.add` points at `o.mr` rows (`t.ldc` apart) of `o.nr`
/// readable floats, none of them in the tile.
unsafe fn add_addend(t: &Tile, o: &Operands) {
    for r in 0..o.mr {
        // SAFETY: row r < mr, `nr` floats: inside the tile and the addend's tile, which
        // do not overlap (the caller's promise).
        let (c, x) = unsafe {
            (
                std::slice::from_raw_parts_mut(o.c.add(r * t.ldc), o.nr),
                std::slice::from_raw_parts(o.add.add(r * t.ldc), o.nr),
            )
        };
        if t.addend_relu {
            for (c, &x) in c.iter_mut().zip(x) {
                *c = relu(*c + x);
            }
        } else {
            for (c, &x) in c.iter_mut().zip(x) {
                *c += x;
            }
        }
    }
}

/// Writes `acc` (row `r`, column `j` at `r * width + j`) into the tile.
///
/// # Safety
/// As for [`micro`]'s `c`.
unsafe fn store(t: &Tile, o: &Operands, acc: &[f32], width: usize) {
    for r in 0..o.mr {
        for j in 0..o.nr {
            // SAFETY: r < mr and j < nr: inside the tile the caller vouched for.
            let cp = unsafe { o.c.add(r * t.ldc + j) };
            let v = t.alpha * acc[r * width + j];
            // SAFETY: as above (`src` is `c` or a bias row of the tile's columns).
            unsafe {
                let v = if t.beta == 0.0 {
                    v
                } else {
                    v + t.beta * *o.src.add(r * t.src_ld() + j)
                };
                *cp = if t.relu { relu(v) } else { v };
            }
        }
    }
}

/// The portable micro-tile (any `rows <= MR_MAX`, `np <= 8`).
///
/// # Safety
/// As for [`micro`].
unsafe fn portable(t: &Tile, o: &Operands, rows: usize, np: usize, direct: bool) {
    let (a_row, a_depth) = if direct { (t.lda, 1) } else { (1, rows) };
    let width = np * NR;
    let mut acc = [0f32; MR_MAX * 8 * NR];
    for kk in 0..t.kc {
        for q in 0..np {
            // SAFETY: panel q < np, depth kk < kc: inside the caller's panels.
            let bp = unsafe { o.b.add(q * o.pstride + kk * NR) };
            for r in 0..o.mr {
                // SAFETY: r < mr <= rows, kk < kc: inside A's tile (packed or direct).
                let av = unsafe { *o.a.add(kk * a_depth + r * a_row) };
                for j in 0..NR {
                    // SAFETY: j < NR: inside the panel row.
                    acc[r * width + q * NR + j] += av * unsafe { *bp.add(j) };
                }
            }
        }
    }
    // SAFETY: forwarded.
    unsafe { store(t, o, &acc, width) }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{store, Operands, Tile, NR};
    use std::arch::x86_64::*;

    /// An `R × 8V` tile (`V / 2` panels): `R * V` 8-lane accumulators.
    ///
    /// # Safety
    /// The CPU has AVX2 + FMA; the pointers as for [`super::micro`] with `np = V / 2`
    /// and `o.mr <= R <= rows`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile<const R: usize, const V: usize>(t: &Tile, o: &Operands, rows: usize) {
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        let mut ap = o.a;
        let mut bp = o.b;
        for _ in 0..t.kc {
            let mut bv = [_mm256_setzero_ps(); V];
            for (v, b) in bv.iter_mut().enumerate() {
                // SAFETY: panel v / 2 < V / 2 = np, 8 floats at (v % 2) * 8 of the
                // depth's 16: inside the caller's panels.
                *b = unsafe { _mm256_loadu_ps(bp.add((v / 2) * o.pstride + (v % 2) * 8)) };
            }
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: r < R <= rows: inside the packed A's depth.
                let av = unsafe { _mm256_broadcast_ss(&*ap.add(r)) };
                for (a, b) in row.iter_mut().zip(&bv) {
                    *a = _mm256_fmadd_ps(av, *b, *a);
                }
            }
            // Advancing past the last depth stays one past the end: never read.
            ap = ap.wrapping_add(rows);
            bp = bp.wrapping_add(NR);
        }
        if o.nr == V * 8 && t.beta == 0.0 && t.alpha == 1.0 && !t.relu {
            for (r, row) in acc.iter().enumerate().take(o.mr) {
                for (v, a) in row.iter().enumerate() {
                    // SAFETY: r < mr, columns v * 8.. + 8 <= nr: inside the tile.
                    unsafe { _mm256_storeu_ps(o.c.add(r * t.ldc + v * 8), *a) };
                }
            }
            return;
        }
        if o.nr == V * 8 {
            let (al, be) = (_mm256_set1_ps(t.alpha), _mm256_set1_ps(t.beta));
            for (r, row) in acc.iter().enumerate().take(o.mr) {
                for (v, a) in row.iter().enumerate() {
                    // SAFETY: as above.
                    let cp = unsafe { o.c.add(r * t.ldc + v * 8) };
                    let out = if t.beta == 0.0 {
                        _mm256_mul_ps(al, *a)
                    } else {
                        // SAFETY: as above.
                        _mm256_fmadd_ps(
                            be,
                            unsafe { _mm256_loadu_ps(o.src.add(r * t.src_ld() + v * 8)) },
                            _mm256_mul_ps(al, *a),
                        )
                    };
                    let out = if t.relu {
                        let zero = _mm256_setzero_ps();
                        _mm256_blendv_ps(out, zero, _mm256_cmp_ps::<_CMP_LT_OQ>(out, zero))
                    } else {
                        out
                    };
                    // SAFETY: as above.
                    unsafe { _mm256_storeu_ps(cp, out) };
                }
            }
            return;
        }
        let mut flat = [0f32; super::MR_MAX * 8 * NR];
        for (r, row) in acc.iter().enumerate() {
            for (v, a) in row.iter().enumerate() {
                // SAFETY: R * V * 8 <= 6 * 64 (the instances: 6×2, 1×8, 2×6, 3×4, …).
                unsafe { _mm256_storeu_ps(flat.as_mut_ptr().add(r * V * 8 + v * 8), *a) };
            }
        }
        // SAFETY: forwarded.
        unsafe { store(t, o, &flat, V * 8) }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use super::{Operands, Tile, NR};
    use std::arch::x86_64::*;

    /// An `R × 16P` tile (`P` panels): `R * P` 16-lane accumulators. A is packed
    /// (`R` floats per depth) or, with `DIRECT`, read in place (`t.lda` floats between
    /// rows; rows past `o.mr` read row `o.mr - 1` again, and are never stored).
    ///
    /// # Safety
    /// The CPU has AVX-512F; the pointers as for [`super::micro`] with `np = P`,
    /// `1 <= o.mr <= R <= rows`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile<const R: usize, const P: usize, const DIRECT: bool>(
        t: &Tile,
        o: &Operands,
        rows: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); P]; R];
        // Per row: its first float and the step from one depth to the next.
        let (row_at, step) = if DIRECT {
            let last = o.mr.max(1) - 1;
            (
                std::array::from_fn::<usize, R, _>(|r| r.min(last) * t.lda),
                1,
            )
        } else {
            (std::array::from_fn::<usize, R, _>(|r| r), rows)
        };
        let mut ap = o.a;
        let mut bp = o.b;
        for kk in 0..t.kc {
            if kk < o.pf_depths {
                for q in 0..P {
                    let line = o.pf.wrapping_add(q * o.pstride + kk * NR);
                    _mm_prefetch::<_MM_HINT_T1>(line.cast::<i8>());
                }
            }
            let mut bv = [_mm512_setzero_ps(); P];
            for (q, b) in bv.iter_mut().enumerate() {
                // SAFETY: panel q < P = np, the depth's 16 floats: inside its panel.
                *b = unsafe { _mm512_loadu_ps(bp.add(q * o.pstride)) };
            }
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: packed: r < R <= rows floats of this depth; direct: row
                // min(r, mr - 1) < mr at this depth (< kc): inside A's tile.
                let av = _mm512_set1_ps(unsafe { *ap.add(row_at[r]) });
                for (a, b) in row.iter_mut().zip(&bv) {
                    *a = _mm512_fmadd_ps(av, *b, *a);
                }
            }
            // Advancing past the last depth stays one past the end: never read.
            ap = ap.wrapping_add(step);
            bp = bp.wrapping_add(NR);
        }
        // SAFETY: forwarded (the tile's rows and columns). By value: with a reference
        // the 8×48 tile wrote its 24 accumulators to the stack at every depth (a store
        // per FMA, half its speed).
        unsafe { store(t, o, acc) }
    }

    /// The last `o.mr < rows` rows of a row block on a tile of `o.mr` rounded up to even
    /// rows, reading the same `rows`-float depths of the micro-panel: the full tile
    /// computed its zero padding, 9% of the work at 64 rows on 14-row tiles (70 rows) and
    /// at 128, a batch of 256 split in two. Rows never meet in a tile, so a row's bits
    /// are the same on any tile height.
    ///
    /// # Safety
    /// As for [`tile`] with `R = rows`, and `o.mr` rounded up to even `< rows <= 14`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn remainder<const P: usize, const DIRECT: bool>(
        t: &Tile,
        o: &Operands,
        rows: usize,
    ) {
        // SAFETY (all arms): `o.mr <= R < rows` (`o.mr <= 12`), the rest forwarded.
        unsafe {
            match o.mr {
                0..=2 => tile::<2, P, DIRECT>(t, o, rows),
                3..=4 => tile::<4, P, DIRECT>(t, o, rows),
                5..=6 => tile::<6, P, DIRECT>(t, o, rows),
                7..=8 => tile::<8, P, DIRECT>(t, o, rows),
                9..=10 => tile::<10, P, DIRECT>(t, o, rows),
                _ => tile::<12, P, DIRECT>(t, o, rows),
            }
        }
    }

    /// Transposes `R <= 16` rows of 16 floats (row `r` at `src + r * lda`) into 16 depths
    /// of `R` floats (depth `kk` at `dst + kk * ldd`): a 16×16 transpose in four rounds of
    /// lane shuffles (64 in all), rows past `R` zero and masked off at the stores. Packing
    /// A float by float cost ~1.7 cycles a float, 4% of an MLP of 1024-wide layers; the
    /// permutes of `layout::strided_copy` use it too. Shuffles move bits: any 4-byte
    /// values pass unchanged.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `src` has `R` rows of 16 readable floats `lda` apart and
    /// `dst` 16 depths of `R` writable floats `ldd` apart.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn transpose_rows<const R: usize>(
        src: *const f32,
        lda: usize,
        dst: *mut f32,
        ldd: usize,
    ) {
        let mut v = [_mm512_setzero_ps(); 16];
        for (r, row) in v.iter_mut().enumerate().take(R) {
            // SAFETY: row r < R: 16 floats at r * lda, as the caller promised.
            *row = unsafe { _mm512_loadu_ps(src.add(r * lda)) };
        }
        // Rows 2i, 2i + 1 interleaved: per 128-bit lane L, columns 4L, 4L + 1 (lo) and
        // 4L + 2, 4L + 3 (hi).
        let mut a = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            a[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
            a[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
        }
        // b[4i + c], lane L: rows 4i..4i + 4 of column 4L + c.
        let mut b = [_mm512_setzero_ps(); 16];
        for i in 0..4 {
            b[4 * i] = _mm512_shuffle_ps::<0x44>(a[4 * i], a[4 * i + 2]);
            b[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(a[4 * i], a[4 * i + 2]);
            b[4 * i + 2] = _mm512_shuffle_ps::<0x44>(a[4 * i + 1], a[4 * i + 3]);
            b[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(a[4 * i + 1], a[4 * i + 3]);
        }
        // Column 4L + c: lane L of b[c], b[4 + c], b[8 + c], b[12 + c], in that order.
        let mask: __mmask16 = (((1u32 << R) - 1) & 0xffff) as __mmask16;
        for c in 0..4 {
            let p = _mm512_shuffle_f32x4::<0x44>(b[c], b[4 + c]);
            let q = _mm512_shuffle_f32x4::<0xEE>(b[c], b[4 + c]);
            let r = _mm512_shuffle_f32x4::<0x44>(b[8 + c], b[12 + c]);
            let s = _mm512_shuffle_f32x4::<0xEE>(b[8 + c], b[12 + c]);
            let cols = [
                _mm512_shuffle_f32x4::<0x88>(p, r),
                _mm512_shuffle_f32x4::<0xDD>(p, r),
                _mm512_shuffle_f32x4::<0x88>(q, s),
                _mm512_shuffle_f32x4::<0xDD>(q, s),
            ];
            for (l, col) in cols.into_iter().enumerate() {
                // SAFETY: depth 4l + c < 16: its R floats are writable, as the caller
                // promised (masked lanes past R are not written).
                unsafe { _mm512_mask_storeu_ps(dst.add((4 * l + c) * ldd), mask, col) };
            }
        }
    }

    /// Writes the accumulators into the tile's `o.mr` rows and `o.nr` columns, the
    /// last panel's columns past `o.nr` masked off.
    ///
    /// # Safety
    /// As for [`tile`]'s `c`; the CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn store<const R: usize, const P: usize>(t: &Tile, o: &Operands, acc: [[__m512; P]; R]) {
        let (al, be) = (_mm512_set1_ps(t.alpha), _mm512_set1_ps(t.beta));
        for (r, row) in acc.iter().enumerate().take(o.mr) {
            for (q, a) in row.iter().enumerate() {
                let width = o.nr.saturating_sub(q * NR).min(NR);
                if width == 0 {
                    break;
                }
                // The first `width` lanes (all 16 for a full panel).
                let mask: __mmask16 = (((1u32 << width) - 1) & 0xffff) as __mmask16;
                // SAFETY: r < mr, columns q * 16 .. + width <= nr: inside the tile (the
                // masked lanes are neither read nor written).
                let cp = unsafe { o.c.add(r * t.ldc + q * NR) };
                let out = match (t.alpha == 1.0, t.beta == 0.0) {
                    (true, true) => *a,
                    (_, true) => _mm512_mul_ps(al, *a),
                    // SAFETY: as above.
                    _ => _mm512_fmadd_ps(
                        be,
                        unsafe { _mm512_maskz_loadu_ps(mask, o.src.add(r * t.src_ld() + q * NR)) },
                        _mm512_mul_ps(al, *a),
                    ),
                };
                // The addend after the bias, as `c + x` after the product.
                let out = if t.addend.is_null() {
                    out
                } else {
                    // SAFETY: the addend's tile has the tile's rows and columns.
                    let x = unsafe { _mm512_maskz_loadu_ps(mask, o.add.add(r * t.ldc + q * NR)) };
                    _mm512_add_ps(out, x)
                };
                // ReLU as the elementwise kernel: lanes below 0 (not NaN, not -0) to 0.
                let out = if t.relu || (t.addend_relu && !t.addend.is_null()) {
                    let zero = _mm512_setzero_ps();
                    _mm512_mask_mov_ps(out, _mm512_cmp_ps_mask::<_CMP_LT_OQ>(out, zero), zero)
                } else {
                    out
                };
                // SAFETY: as above.
                unsafe { _mm512_mask_storeu_ps(cp, mask, out) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `alpha * a @ b + beta * c0` in f64, `a` `[m, k]` and `b` `[k, n]` row-major.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        alpha: f32,
        a: &[f32],
        b: &[f32],
        beta: f32,
        c0: &[f32],
        m: usize,
        k: usize,
        n: usize,
    ) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k)
                    .map(|p| f64::from(a[i * k + p]) * f64::from(b[p * n + j]))
                    .sum();
                let init = if beta == 0.0 {
                    0.0
                } else {
                    f64::from(beta) * f64::from(c0[i * n + j])
                };
                c[i * n + j] = (f64::from(alpha) * dot + init) as f32;
            }
        }
        c
    }

    /// Small integers (-3..=3): every product and sum is exact in f32.
    fn ints(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 7) % 7)
            .map(|v| v as f32 - 3.0)
            .collect()
    }

    /// The epilogue gives the bits of doing its work around a plain product: a bias row
    /// as copies of it in `c` with `beta = 1`, an addend as `c + x` after it, ReLU as the
    /// elementwise kernel after that (NaN kept) — on every tile set, few rows, the 8- and 14-row tiles, partial panels,
    /// one and several k blocks, threads, alpha != 1, beta * c, and no depth.
    #[test]
    fn epilogue_is_the_work_done_after() {
        for (m, k, n) in [
            (1, 7, 10),
            (2, 300, 33),
            (3, 600, 130),
            (5, 1, 17),
            (8, 600, 100),
            (20, 64, 16),
            (40, 700, 48),
            (64, 600, 512),
            (6, 0, 20),
        ] {
            let mut a = ints(m * k, 1);
            if let Some(v) = a.get_mut(k + 1) {
                *v = f32::NAN;
            }
            let b = ints(k * n, 2);
            let bias: Vec<f32> = ints(n, 3).iter().map(|v| v * 0.37).collect();
            let c0: Vec<f32> = ints(m * n, 4).iter().map(|v| v * 0.5).collect();
            let packed = PackedB::pack(Mat::row_major(&b, k, n)).unwrap();
            let am = Mat::row_major(&a, m, k);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let mut x: Vec<f32> = ints(m * n, 5).iter().map(|v| v * -0.25).collect();
            if let Some(v) = x.get_mut(n + 2) {
                *v = f32::NAN;
            }
            let cases = isas().into_iter().flat_map(|i| {
                [
                    (1.0, false, true, false),
                    (0.5, true, false, false),
                    (1.0, true, true, false),
                    (1.0, true, false, true),
                    (0.5, false, true, true),
                    (1.0, true, true, true),
                ]
                .map(|(alpha, with_bias, relu, add)| (i, alpha, with_bias, relu, add))
            });
            for (isa, alpha, with_bias, relu, add) in cases {
                let mut want: Vec<f32> = if with_bias {
                    bias.iter().copied().cycle().take(m * n).collect()
                } else {
                    c0.clone()
                };
                let out = COut::Init(&mut want);
                let plain = GemmEpilogue::default();
                gemm_packed_on(isa, alpha, am, &packed, 1.0, plain, out, None).unwrap();
                if add {
                    want.iter_mut().zip(&x).for_each(|(v, x)| *v += x);
                }
                if relu {
                    want.iter_mut().for_each(|v| *v = super::relu(*v));
                }
                let mut got = if with_bias {
                    vec![f32::NAN; m * n]
                } else {
                    c0.clone()
                };
                let epilogue = GemmEpilogue {
                    bias: with_bias.then_some(&bias[..]),
                    relu,
                    addend: add.then_some(&x[..]),
                    unary: None,
                };
                let out = COut::Init(&mut got);
                gemm_packed_on(isa, alpha, am, &packed, 1.0, epilogue, out, None).unwrap();
                let what =
                    format!("{m}x{k}x{n} {isa:?} alpha {alpha} bias {with_bias} addend {add}");
                assert_eq!(bits(&got), bits(&want), "{what} relu {relu}");
            }
            let short = GemmEpilogue {
                bias: Some(&bias[1..]),
                ..GemmEpilogue::default()
            };
            assert!(gemm_packed_epilogue(1.0, am, &packed, 1.0, short, &mut []).is_err());
        }
    }

    /// A function epilogue has the bits of the product, then the elementwise kernel over
    /// its output: few rows and many, several k blocks, a width that is not whole
    /// panels, products split over threads, into a buffer and into new memory.
    #[test]
    fn a_function_epilogue_is_the_function_after_the_product() {
        let shapes = [(1, 7, 10), (3, 64, 40), (64, 600, 130), (256, 512, 520)];
        for (m, k, n) in shapes {
            let a: Vec<f32> = ints(m * k, 4).iter().map(|v| v * 0.01).collect();
            let bias: Vec<f32> = ints(n, 3).iter().map(|v| v * 0.1).collect();
            let packed = PackedB::pack(Mat::row_major(&ints(k * n, 2), k, n)).unwrap();
            let am = Mat::row_major(&a, m, k);
            for op in [Unary::Gelu, Unary::Silu, Unary::Tanh] {
                let plain = GemmEpilogue {
                    bias: Some(&bias),
                    ..GemmEpilogue::default()
                };
                let mut want = vec![0f32; m * n];
                gemm_packed_epilogue(0.5, am, &packed, 0.0, plain, &mut want).unwrap();
                op.apply_f32_in_place(&mut want);
                let with = GemmEpilogue {
                    unary: Some(op),
                    ..plain
                };
                let mut got = vec![f32::NAN; m * n];
                gemm_packed_epilogue(0.5, am, &packed, 0.0, with, &mut got).unwrap();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{m}x{k}x{n} {op:?}");
                let fresh = gemm_packed_new(0.5, &[am], &packed, with).unwrap();
                assert_eq!(bits(&fresh), bits(&want), "{m}x{k}x{n} {op:?}, new");
            }
        }
    }

    /// An addend shorter than the product is an error, not a read past it.
    #[test]
    fn a_short_addend_is_an_error() {
        let (m, k, n) = (4, 3, 20);
        let (a, x) = (ints(m * k, 1), ints(m * n - 1, 2));
        let packed = PackedB::pack(Mat::row_major(&ints(k * n, 2), k, n)).unwrap();
        let short = GemmEpilogue {
            addend: Some(&x),
            ..GemmEpilogue::default()
        };
        let mut c = vec![0.0; m * n];
        let am = Mat::row_major(&a, m, k);
        assert!(gemm_packed_epilogue(1.0, am, &packed, 0.0, short, &mut c).is_err());
        assert!(gemm_packed_new(1.0, &[am], &packed, short).is_err());
    }

    /// A new product (no fill first) has the bits of the same product into a buffer that
    /// held values: stacked parts, few rows and tiles, several k blocks, threads, no
    /// depth, with and without a bias row and ReLU; a wrong bias is an error.
    #[test]
    fn new_products_are_the_products_into_old_buffers() {
        for (k, n) in [(7, 10), (600, 130), (0, 20), (300, 512), (64, 16)] {
            let bias: Vec<f32> = ints(n, 3).iter().map(|v| v * 0.37).collect();
            let packed = PackedB::pack(Mat::row_major(&ints(k * n, 2), k, n)).unwrap();
            let datas: Vec<Vec<f32>> = [1, 5, 40, 64].map(|m| ints(m * k, m as u32)).into();
            let parts: Vec<Mat<'_, f32>> = (datas.iter())
                .map(|d| Mat::row_major(d, d.len() / k.max(1), k))
                .map(|a| if k == 0 { Mat { rows: 3, ..a } } else { a })
                .collect();
            let rows: usize = parts.iter().map(|a| a.rows).sum();
            let x: Vec<f32> = ints(rows * n, 6).iter().map(|v| v * -0.5).collect();
            let cases = [
                (false, false, false),
                (true, true, false),
                (false, true, false),
            ];
            let with_addend = [(true, false, true), (false, true, true)];
            for (with_bias, relu, add) in cases.into_iter().chain(with_addend) {
                let epilogue = GemmEpilogue {
                    bias: with_bias.then_some(&bias[..]),
                    relu,
                    ..GemmEpilogue::default()
                };
                let mut want = Vec::new();
                for a in &parts {
                    // Each part's own rows of the addend.
                    let from = want.len();
                    let addend = add.then(|| &x[from..from + a.rows * n]);
                    let e = GemmEpilogue { addend, ..epilogue };
                    let mut c = vec![f32::NAN; a.rows * n];
                    gemm_packed_epilogue(0.5, *a, &packed, 0.0, e, &mut c).unwrap();
                    want.extend(c);
                }
                let e = GemmEpilogue {
                    addend: add.then_some(&x[..]),
                    ..epilogue
                };
                let got = gemm_packed_new(0.5, &parts, &packed, e).unwrap();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{k}x{n} bias {with_bias} relu {relu} addend {add}"
                );
            }
            let short = GemmEpilogue {
                bias: Some(&bias[1..]),
                ..GemmEpilogue::default()
            };
            assert!(gemm_packed_new(1.0, &parts, &packed, short).is_err());
        }
    }

    /// Packed A has its documented layout (row `r`, depth `kk` of micro-panel `q` at
    /// `q * kc * rows + kk * rows + r`, rows past the block zero) on every path: the
    /// register-block and AVX-512 transposes of whole 8- and 14-row panels, partial
    /// panels, remainders of fewer than 16 depths, other heights and a transposed A.
    #[test]
    fn packed_a_has_its_layout() {
        let (m, cols) = (40, 75);
        let data = ints(m * cols, 3);
        for rows in [6usize, 8, 14] {
            for (i0, mc, p0, kc) in [
                (0usize, 40usize, 0usize, 64usize),
                (3, 30, 5, 37),
                (1, 28, 0, 75),
                (0, 9, 2, 16),
            ] {
                for transposed in [false, true] {
                    let t = transpose(&data, m, cols);
                    let a = if transposed {
                        Mat {
                            data: &t,
                            rows: m,
                            cols,
                            rs: 1,
                            cs: m,
                        }
                    } else {
                        Mat::row_major(&data, m, cols)
                    };
                    let len = mc.div_ceil(rows) * rows * kc;
                    let mut out = vec![f32::NAN; len];
                    pack_a(a, i0, mc, p0, kc, rows, &mut out);
                    for (at, v) in out.iter().enumerate() {
                        let (q, kk, r) = (at / (kc * rows), at % (kc * rows) / rows, at % rows);
                        let i = q * rows + r;
                        let want = if i < mc {
                            data[(i0 + i) * cols + p0 + kk]
                        } else {
                            0.0
                        };
                        assert_eq!(v.to_bits(), want.to_bits(), "rows {rows} at {at}");
                    }
                }
            }
        }
    }

    /// Every panel row starts a cache line, however the matrix was made: a 16-lane load
    /// never spans two lines.
    #[test]
    fn panels_start_on_cache_lines() {
        let aligned = |p: &PackedB| (p.as_slice().as_ptr() as usize).is_multiple_of(64);
        for (k, n) in [(1, 1), (3, 17), (64, 100), (300, 33)] {
            let b = ints(k * n, 5);
            let packed = PackedB::pack(Mat::row_major(&b, k, n)).unwrap();
            assert!(aligned(&packed), "{k}x{n}");
            assert_eq!(packed.as_slice().len(), n.div_ceil(NR) * k * NR);
            assert!(aligned(&packed.clone()));
            let copied = PackedB::from_panels(k, n, packed.as_slice()).unwrap();
            assert!(aligned(&copied));
            assert_eq!(copied, packed);
            let mut grown = PackedB::empty();
            grown.size_for(k, n).unwrap();
            grown.size_for(2 * k, n + 40).unwrap();
            assert!(aligned(&grown));
        }
        assert!(PackedB::from_panels(2, 3, &[0.0; 31]).is_err());
    }

    fn transpose(b: &[f32], k: usize, n: usize) -> Vec<f32> {
        let mut t = vec![0f32; k * n];
        for p in 0..k {
            for j in 0..n {
                t[j * k + p] = b[p * n + j];
            }
        }
        t
    }

    const SHAPES: [(usize, usize, usize); 21] = [
        (8, 40, 80),
        (16, 30, 100),
        (32, 20, 50),
        (1, 1, 1),
        (1, 7, 3),
        (1, 1, 17),
        (5, 1, 9),
        (2, 65, 33),
        (3, 300, 70),
        (1, 784, 80),
        (4, 9, 16),
        (6, 16, 16),
        (7, 257, 31),
        (13, 5, 49),
        (73, 3, 18),
        (80, 513, 40),
        (64, 100, 130),
        (150, 260, 65),
        (2, 1100, 200),
        // 8-row tiles over packed A (wider than the direct reads), depths not a multiple
        // of the packing's 16.
        (24, 37, 150),
        // One panel: the 8-row tile reads A in place where the 14-row one would pack.
        (40, 70, 10),
    ];

    /// The tile sets this CPU runs: each is tested, not only the one `gemm_packed`
    /// picks.
    fn isas() -> Vec<Isa> {
        let mut v = vec![Isa::Portable];
        if has_avx2_fma() {
            v.push(Isa::Avx2);
        }
        if Isa::get() == Isa::Avx512 {
            v.push(Isa::Avx512);
        }
        v
    }

    #[test]
    fn packed_gemm_is_exact_on_small_integers_for_odd_shapes() {
        for (m, k, n) in SHAPES {
            let a = ints(m * k, 1);
            let b = ints(k * n, 2);
            let c0 = ints(m * n, 3);
            let packed = PackedB::pack(Mat::row_major(&b, k, n)).unwrap();
            assert_eq!(packed.shape(), [k, n]);
            for (alpha, beta) in [(1.0, 0.0), (2.0, 1.0), (1.0, -0.5)] {
                let want = naive(alpha, &a, &b, beta, &c0, m, k, n);
                for isa in isas() {
                    let mut c = c0.clone();
                    let am = Mat::row_major(&a, m, k);
                    let none = GemmEpilogue::default();
                    gemm_packed_on(
                        isa,
                        alpha,
                        am,
                        &packed,
                        beta,
                        none,
                        COut::Init(&mut c),
                        None,
                    )
                    .unwrap();
                    assert_eq!(c, want, "{isa:?} {m}x{k}x{n} alpha {alpha} beta {beta}");
                }
            }
        }
    }

    /// Every height of a row block's last tile (1..13 rows after 14-row tiles, 1..7 after
    /// 8-row ones), on tiles of one, two and three panels, with A packed (300 columns) and
    /// read in place (48), gives the exact rows; and so do the blocks' boundaries (112
    /// rows per block of 14-row tiles).
    #[test]
    fn every_last_tile_height_gives_exact_rows() {
        let k = 7;
        for n in [48, 300] {
            let b = ints(k * n, 11);
            let packed = PackedB::pack(Mat::row_major(&b, k, n)).unwrap();
            for m in 4..=130 {
                let a = ints(m * k, 12);
                let c0 = ints(m * n, 13);
                let want = naive(1.0, &a, &b, 1.0, &c0, m, k, n);
                for isa in isas() {
                    let mut c = c0.clone();
                    let none = GemmEpilogue::default();
                    let am = Mat::row_major(&a, m, k);
                    gemm_packed_on(isa, 1.0, am, &packed, 1.0, none, COut::Init(&mut c), None)
                        .unwrap();
                    assert_eq!(c, want, "{isa:?} {m}x{k}x{n}");
                }
            }
        }
    }

    /// Every packing path (row-major, transposed, strided, row by row) gives the same
    /// panels as the definition: row `kk` of panel `p` holds columns `16p..16p + 16`,
    /// zero past `n`.
    #[test]
    fn every_packing_path_lays_out_the_same_panels() {
        // Whole panels 16 depths at a time and their remainders (40×50, 16×32, 33×48).
        for (k, n) in [
            (1, 1),
            (3, 16),
            (5, 17),
            (40, 50),
            (7, 33),
            (16, 32),
            (33, 48),
        ] {
            let b = ints(k * n, 6);
            let mut want = vec![0f32; n.div_ceil(NR) * k * NR];
            for kk in 0..k {
                for j in 0..n {
                    want[((j / NR) * k + kk) * NR + j % NR] = b[kk * n + j];
                }
            }
            let row_major = PackedB::pack(Mat::row_major(&b, k, n)).unwrap();
            assert_eq!(row_major.as_slice(), &want[..], "row-major {k}x{n}");
            let bt = transpose(&b, k, n);
            let transposed = Mat {
                data: &bt,
                rows: k,
                cols: n,
                rs: 1,
                cs: k,
            };
            assert_eq!(PackedB::pack(transposed).unwrap(), row_major, "transposed");
            // Every other element of a twice-as-wide matrix: neither stride is 1.
            let wide: Vec<f32> = b.iter().flat_map(|v| [*v, -1.0]).collect();
            let strided = Mat {
                data: &wide,
                rows: k,
                cols: n,
                rs: 2 * n,
                cs: 2,
            };
            assert_eq!(PackedB::pack(strided).unwrap(), row_major, "strided");
            let mut refilled = PackedB::pack(Mat::row_major(&[9.0; 64], 8, 8)).unwrap();
            refilled.size_for(k, n).unwrap();
            for kk in 0..k {
                refilled.put_row(kk, &b[kk * n..(kk + 1) * n]);
            }
            assert_eq!(refilled, row_major, "row by row");
        }
    }

    #[test]
    fn transposed_and_strided_operands_pack_and_agree() {
        for (m, k, n) in SHAPES {
            let a = ints(m * k, 4);
            let b = ints(k * n, 5);
            let want = naive(1.0, &a, &b, 0.0, &[], m, k, n);
            // `b` given as a row-major weight `[n, k]` read transposed.
            let bt = transpose(&b, k, n);
            let bm = Mat {
                data: &bt,
                rows: k,
                cols: n,
                rs: 1,
                cs: k,
            };
            let packed = PackedB::pack(bm).unwrap();
            // `a` given transposed (`[k, m]` storage, strides (1, m)).
            let at = transpose(&a, m, k);
            let am = Mat {
                data: &at,
                rows: m,
                cols: k,
                rs: 1,
                cs: m,
            };
            let mut c = vec![f32::NAN; m * n];
            gemm_packed(1.0, am, &packed, 0.0, &mut c).unwrap();
            assert_eq!(c, want, "{m}x{k}x{n} transposed");
            // `a` with a row stride larger than its width (a column slice).
            let wide: Vec<f32> = (0..m)
                .flat_map(|i| {
                    let mut row = a[i * k..(i + 1) * k].to_vec();
                    row.push(99.0);
                    row
                })
                .collect();
            let am = Mat {
                data: &wide,
                rows: m,
                cols: k,
                rs: k + 1,
                cs: 1,
            };
            let mut c = vec![0f32; m * n];
            gemm_packed(1.0, am, &packed, 0.0, &mut c).unwrap();
            assert_eq!(c, want, "{m}x{k}x{n} strided");
        }
    }

    #[test]
    fn a_prepacked_left_operand_gives_the_same_bits() {
        // Tiles of 8 and 14 rows, A read in place (few columns), two k blocks.
        for (m, k, n) in [
            (32, 288, 256),
            (40, 100, 50),
            (8, 20, 64),
            (3, 300, 40),
            (40, 100, 10),
        ] {
            let (a, b) = (ints(m * k, 3), ints(k * n, 5));
            let packed = PackedB::pack(Mat::row_major(&b, k, n)).unwrap();
            let am = Mat::row_major(&a, m, k);
            let pa = PackedA::pack(am).unwrap();
            let mut want = vec![1.0; m * n];
            gemm_packed(1.0, am, &packed, 0.5, &mut want).unwrap();
            let mut got = vec![1.0; m * n];
            gemm_packed_a(1.0, am, &pa, &packed, 0.5, &mut got).unwrap();
            assert_eq!(got, want, "{m}x{k}x{n}");
            assert_eq!(got, naive(1.0, &a, &b, 0.5, &vec![1.0; m * n], m, k, n));
        }
        let (a, b) = (ints(12, 1), ints(12, 2));
        let pa = PackedA::pack(Mat::row_major(&a, 3, 4)).unwrap();
        let packed = PackedB::pack(Mat::row_major(&b, 4, 3)).unwrap();
        let mut c = vec![0.0; 6];
        assert!(gemm_packed_a(1.0, Mat::row_major(&a, 2, 4), &pa, &packed, 0.0, &mut c).is_err());
    }

    /// A buffer packed again (larger first, then smaller) holds what a fresh packing
    /// holds, zero padding included, on the row-major, transposed and strided paths.
    #[test]
    fn packing_into_a_used_buffer_is_a_fresh_packing() {
        let (big, small) = (ints(40 * 70, 4), ints(9 * 21, 5));
        let mut reused = PackedB::pack(Mat::row_major(&big, 40, 70)).unwrap();
        for (rs, cs) in [(21, 1), (1, 9), (42, 2)] {
            let data: Vec<f32> = if cs == 2 {
                small.iter().flat_map(|&v| [v, f32::NAN]).collect()
            } else {
                small.clone()
            };
            let b = Mat {
                data: &data,
                rows: 9,
                cols: 21,
                rs,
                cs,
            };
            reused.pack_into(Mat::row_major(&big, 40, 70)).unwrap();
            reused.pack_into(b).unwrap();
            assert_eq!(reused, PackedB::pack(b).unwrap(), "strides {rs}, {cs}");
        }
    }

    /// Few-row products walk the weight's panels in alternate directions from one call
    /// to the next, with the same bits either way: whole wide tiles and single panels,
    /// on every tile set, a bias and ReLU, a depth over several [`KC`] (one k block for
    /// fewer than 4 rows; 4 rows are few on AVX-512 alone, with k blocks of their own).
    #[test]
    fn few_row_walks_alternate_and_give_the_same_bits() {
        let shapes = [
            (1, 784, 16 * 11 + 5),
            (2, 700, 16 * 7),
            (3, 90, 16 * 9 + 1),
            (4, 600, 16 * 13 + 3),
        ];
        for (m, k, n) in shapes {
            let f = |len: usize, s: u32| -> Vec<f32> {
                ints(len, s)
                    .iter()
                    .zip(ints(len, s + 5))
                    .map(|(x, y)| x * 0.37 + y * 0.013)
                    .collect()
            };
            let (a, b, bias) = (f(m * k, 1), f(k * n, 2), f(n, 3));
            let packed = PackedB::pack(Mat::row_major(&b, k, n)).unwrap();
            let am = Mat::row_major(&a, m, k);
            let epilogue = GemmEpilogue {
                bias: Some(&bias),
                relu: true,
                ..GemmEpilogue::default()
            };
            for isa in isas() {
                let mut runs = Vec::new();
                for _ in 0..2 {
                    let descends = packed.descending.load(std::sync::atomic::Ordering::Relaxed);
                    let mut c = vec![f32::NAN; m * n];
                    let out = COut::Init(&mut c);
                    gemm_packed_on(isa, 1.0, am, &packed, 0.0, epilogue, out, None).unwrap();
                    runs.push((descends, c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()));
                }
                if isa.few(m) {
                    assert_ne!(runs[0].0, runs[1].0, "{m}x{k}x{n} {isa:?}: one direction");
                }
                assert_eq!(runs[0].1, runs[1].1, "{m}x{k}x{n} {isa:?}");
                let want = naive(1.0, &a, &b, 0.0, &vec![0.0; m * n], m, k, n);
                for (i, (got, want)) in runs[0].1.iter().zip(&want).enumerate() {
                    let want = (want + bias[i % n]).max(0.0);
                    let got = f32::from_bits(*got);
                    assert!(
                        (got - want).abs() <= 1e-3 * want.abs().max(1.0),
                        "{i}: {got} {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn random_floats_agree_within_tolerance_across_threads_and_k_blocks() {
        // Few rows (wide tiles), one row block, several row blocks: A packed once and
        // shared by the threads, in every k block.
        for m in [2, 37, 250] {
            let (k, n) = (700, 300);
            let f = |len: usize, s: u32| -> Vec<f32> {
                ints(len, s)
                    .iter()
                    .zip(ints(len, s + 9))
                    .map(|(x, y)| x * 0.37 + y * 0.011)
                    .collect()
            };
            let (a, b) = (f(m * k, 1), f(k * n, 2));
            let packed = PackedB::pack(Mat::row_major(&b, k, n)).unwrap();
            let mut c = vec![0f32; m * n];
            gemm_packed(0.5, Mat::row_major(&a, m, k), &packed, 0.0, &mut c).unwrap();
            let want = naive(0.5, &a, &b, 0.0, &[], m, k, n);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "m {m}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn the_portable_tile_agrees_with_the_vector_tiles() {
        let (k, n) = (40, 70);
        let b = ints(k * n, 8);
        let packed = PackedB::pack(Mat::row_major(&b, k, n)).unwrap();
        for (rows, direct) in (1..=6).flat_map(|r| [(r, false), (r, true)]) {
            let a = ints(rows * k, 9);
            let mut apack = vec![0f32; rows * k];
            pack_a(Mat::row_major(&a, rows, k), 0, rows, 0, k, rows, &mut apack);
            let want = naive(1.0, &a, &b, 0.0, &[], rows, k, n);
            let mut c = vec![0f32; rows * n];
            let t = Tile {
                kc: k,
                ldc: n,
                lda: k,
                alpha: 1.0,
                beta: 0.0,
                bias: std::ptr::null(),
                relu: false,
                addend: std::ptr::null(),
                addend_relu: false,
            };
            for p0 in (0..n.div_ceil(NR)).step_by(2) {
                let np = 2.min(n.div_ceil(NR) - p0);
                let o = Operands {
                    a: if direct { a.as_ptr() } else { apack.as_ptr() },
                    b: packed.as_slice()[p0 * k * NR..].as_ptr(),
                    pstride: k * NR,
                    c: c[p0 * NR..].as_mut_ptr(),
                    src: c[p0 * NR..].as_ptr(),
                    mr: rows,
                    nr: (np * NR).min(n - p0 * NR),
                    pf: std::ptr::null(),
                    pf_depths: 0,
                    add: std::ptr::null(),
                };
                // SAFETY: the tile's operands are inside `a` / `apack`, `packed` and `c`.
                unsafe { portable(&t, &o, rows, np, direct) };
            }
            assert_eq!(c, want, "{rows} rows, direct {direct}");
        }
    }

    #[test]
    fn shapes_are_checked_at_the_entry_point() {
        let b = [1f32; 6];
        let packed = PackedB::pack(Mat::row_major(&b, 3, 2)).unwrap();
        let a = [1f32; 4];
        let mut c = [0f32; 4];
        let err = gemm_packed(1.0, Mat::row_major(&a, 2, 2), &packed, 0.0, &mut c).unwrap_err();
        assert_eq!(
            err.0,
            "mat1 and mat2 shapes cannot be multiplied (2x2 and 3x2)"
        );
        let a = [1f32; 6];
        let mut short = [0f32; 3];
        assert!(gemm_packed(1.0, Mat::row_major(&a, 2, 3), &packed, 0.0, &mut short).is_err());
        assert!(PackedB::pack(Mat::row_major(&b[..5], 3, 2)).is_err());
        gemm_packed(1.0, Mat::row_major(&a, 2, 3), &packed, 0.0, &mut c).unwrap();
        assert_eq!(c, [3.0; 4]);
    }
}
