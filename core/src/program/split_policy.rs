//! Calls split along their batch, as both runners run them: whether a call splits
//! ([`BatchSplit`], and [`SplitPolicy`]'s timing of the first calls for `Auto`), and
//! running two halves on the kernels' thread pool and stacking their outputs
//! ([`run_halves`]). Which programs can split, and how a half runs, is each runner's
//! (`program/batch_split.rs` for the interpreter, the runtime's `split.rs` for a plan).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Bindings;
use crate::error::RunError;
use crate::symbolic::SymInt;
use crate::tensor::{Storage, Tensor};

/// Whether a call runs as two halves of its batch, one per thread
/// (`ExportedModule::set_batch_split`, `CompiledProgram::set_batch_split`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BatchSplit {
    /// Split where the program allows it and the first calls measured it faster (the
    /// default).
    #[default]
    Auto,
    /// Split every call the program allows to (on one kernel thread the halves run one
    /// after the other).
    Always,
    /// Never split.
    Never,
}

/// [`BatchSplit::Auto`] times the first calls of each batch size in blocks of
/// `SPLIT_BLOCK`, whole and split in turn, and keeps the way with the lower median of
/// `SPLIT_ROUNDS` blocks each, and times them again after `SPLIT_RETRY` calls that took
/// `SPLIT_RETRY_SECS` in all. The first round of both ways is not timed (the first
/// split calls fault in the second thread's memory), nor is the first half of a block:
/// after whole calls the pool's second thread has been idle, and the scheduler takes a
/// few calls to run it on the other core again (an interpreted GroupNorm block split
/// ran its first 3–4 calls at 55–90 µs, then 40, against 60 whole; timed from each
/// block's second call of 4, `Auto` kept it whole in two processes of three).
const SPLIT_BLOCK: usize = 16;
const SPLIT_ROUNDS: usize = 2;
/// Calls after which a decision is timed again. The machine a decision was timed on
/// may change: on a 2-vCPU machine whose second core was now and then taken by the host,
/// an embedding + GRU program timed its halves at 1110 µs against 1049 whole and kept
/// its calls whole (1050 µs), where five other processes timed 730–790 against 1000–1100
/// and split. Timing again takes 96 calls every 4096, half of them each way.
const SPLIT_RETRY: usize = 4096;
/// ... and, for a decision to run whole, at least this many seconds of calls (at its
/// median): a call of a few microseconds timed again every 4096 calls spent ~5% of its
/// time timing (a tutorial module at 2 threads, 1.97 µs a call against 1.86 never
/// split). Not much more than a quarter second: a decision to run whole taken while the
/// second vCPU was busy elsewhere (an interpreted GroupNorm block timed its halves at
/// 31–34 µs for 16 calls, where they take 21) held for the 1.2 s of a benchmark in two
/// processes of five at 2 s.
const SPLIT_RETRY_SECS: f64 = 0.25;
/// The most batch sizes whose decision is kept (a program called with ever new sizes
/// keeps deciding for the newest ones).
const SPLIT_SIZES: usize = 64;

/// A runner's [`BatchSplit`] mode and `Auto`'s measurements, per batch size.
#[derive(Debug, Default)]
pub struct SplitPolicy {
    /// The [`BatchSplit`] mode (`BatchSplit as u8`): read on every call, without a lock.
    mode: std::sync::atomic::AtomicU8,
    /// Per batch: the times of whole and split calls so far, then the decision. A
    /// short list, scanned: hashing the size into a map cost a call of two microseconds
    /// a few percent.
    trials: Mutex<Vec<(usize, SplitTrial)>>,
}

#[derive(Debug, Default)]
struct SplitTrial {
    calls: usize,
    whole: Vec<f64>,
    split: Vec<f64>,
    decided: Option<bool>,
    /// Calls since the decision.
    since: usize,
    /// The decided way's median call, in seconds.
    decided_secs: f64,
}

/// The trial of `batch`, made when there is none (all forgotten when `SPLIT_SIZES`
/// sizes are already being timed).
fn trial_of(trials: &mut Vec<(usize, SplitTrial)>, batch: usize) -> &mut SplitTrial {
    let at = match trials.iter().position(|(b, _)| *b == batch) {
        Some(at) => at,
        None => {
            if trials.len() >= SPLIT_SIZES {
                trials.clear();
            }
            trials.push((batch, SplitTrial::default()));
            trials.len() - 1
        }
    };
    &mut trials[at].1
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::INFINITY)
}

impl SplitPolicy {
    pub fn set_mode(&self, mode: BatchSplit) {
        self.mode
            .store(mode as u8, std::sync::atomic::Ordering::Relaxed);
    }

    fn mode(&self) -> BatchSplit {
        match self.mode.load(std::sync::atomic::Ordering::Relaxed) {
            m if m == BatchSplit::Always as u8 => BatchSplit::Always,
            m if m == BatchSplit::Never as u8 => BatchSplit::Never,
            _ => BatchSplit::Auto,
        }
    }

    /// Whether any call may split (not `Never`, nor `Auto` on one thread).
    pub fn may_split(&self) -> bool {
        match self.mode() {
            BatchSplit::Always => true,
            BatchSplit::Never => false,
            BatchSplit::Auto => ferrex_kernels::threads::num_threads() >= 2,
        }
    }

    /// Whether this call of `batch` samples splits, and whether it is timed for the
    /// decision ([`SplitPolicy::record`]).
    pub fn choose(&self, batch: usize) -> (bool, bool) {
        self.choose_on(batch, ferrex_kernels::threads::num_threads())
    }

    /// [`SplitPolicy::choose`] with `threads` kernel threads.
    fn choose_on(&self, batch: usize, threads: usize) -> (bool, bool) {
        match self.mode() {
            BatchSplit::Always => return (true, false),
            BatchSplit::Never => return (false, false),
            BatchSplit::Auto if threads < 2 => return (false, false),
            BatchSplit::Auto => {}
        }
        let mut trials = self.trials.lock().unwrap_or_else(|p| p.into_inner());
        let t = trial_of(&mut trials, batch);
        // A split decision is timed again after `SPLIT_RETRY` calls whatever they took:
        // one taken on a noisy machine costs a hand-off per call until it is.
        let timed_long_ago =
            t.decided == Some(true) || t.since as f64 * t.decided_secs >= SPLIT_RETRY_SECS;
        if t.decided.is_some() && t.since >= SPLIT_RETRY && timed_long_ago {
            *t = SplitTrial::default();
        }
        match t.decided {
            Some(d) => {
                t.since += 1;
                (d, false)
            }
            None => ((t.calls / SPLIT_BLOCK) % 2 == 1, true),
        }
    }

    /// Runs a call of `batch` samples, `call(true)` split or `call(false)` whole as
    /// chosen, and records its time while `Auto` is still deciding.
    pub fn run<T>(&self, batch: usize, call: impl FnOnce(bool) -> T) -> T {
        let (splits, timed) = self.choose(batch);
        let start = timed.then(Instant::now);
        let out = call(splits);
        if let Some(start) = start {
            self.record(batch, splits, start.elapsed().as_secs_f64());
        }
        out
    }

    /// Records a timed call's wall time.
    fn record(&self, batch: usize, split: bool, secs: f64) {
        let mut trials = self.trials.lock().unwrap_or_else(|p| p.into_inner());
        let t = trial_of(&mut trials, batch);
        if t.decided.is_some() {
            return;
        }
        if t.calls >= 2 * SPLIT_BLOCK && t.calls % SPLIT_BLOCK >= SPLIT_BLOCK / 2 {
            if split { &mut t.split } else { &mut t.whole }.push(secs);
        }
        t.calls += 1;
        if t.calls >= 2 * SPLIT_BLOCK * (SPLIT_ROUNDS + 1) {
            let (split, whole) = (median(&mut t.split), median(&mut t.whole));
            t.decided = Some(split < whole);
            t.decided_secs = split.min(whole);
        }
    }
}

/// A product that a split call computes on a half's rows: its rows per sample, its
/// depth, and its columns where the interpreter may run it on the eager GEMM
/// (`ferrex_kernels::gemm`, whose path depends on the rows) rather than by a packed
/// weight (`linear`, and the plan's products).
#[derive(Clone, Debug)]
pub struct SplitProduct {
    pub rows: SymInt,
    pub depth: usize,
    pub eager_columns: Option<usize>,
}

impl SplitProduct {
    fn same_as(&self, other: &SplitProduct) -> bool {
        self.depth == other.depth
            && self.eager_columns == other.eager_columns
            && self.rows.same_as(&other.rows)
    }

    /// Adds `p` to `products` unless an equal product is there.
    pub fn join(products: &mut Vec<SplitProduct>, p: SplitProduct) {
        if !products.iter().any(|q| q.same_as(&p)) {
            products.push(p);
        }
    }
}

/// The two halves of a call's `batch`, if it has two and every product sums a half's
/// rows as it sums the whole's: a product's kernel and its k blocks can depend on its
/// rows ([`ferrex_kernels::sgemm::sums_alike`], [`ferrex_kernels::gemm::sums_alike`]),
/// and a split call must give the whole one's bits.
pub fn batch_halves(
    bindings: &Bindings,
    batch: &SymInt,
    products: &[SplitProduct],
) -> Option<[usize; 2]> {
    let b = usize::try_from(bindings.value(batch)).ok()?;
    let halves = [b / 2, b - b / 2];
    let alike = |p: &SplitProduct| {
        let rows = usize::try_from(bindings.value(&p.rows)).ok();
        let sums = |m: usize, h: usize| match p.eager_columns {
            None => ferrex_kernels::sgemm::sums_alike(m, h, p.depth),
            // The eager GEMM, or the packed weight where the operand is a transposed
            // weight (`addmm` of the core IR): alike on both.
            Some(n) => {
                ferrex_kernels::gemm::sums_alike(m, h, p.depth, n)
                    && ferrex_kernels::sgemm::sums_alike(m, h, p.depth)
            }
        };
        rows.and_then(|r| Some((r.checked_mul(b)?, r)))
            .is_some_and(|(m, r)| halves.iter().all(|h| sums(m, r * h)))
    };
    (b >= 2 && products.iter().all(alike)).then_some(halves)
}

/// The first split a runner's `try_batch` makes of its program, trying as the batch each
/// input's leading size of two or more in turn (`leading`: the run-time inputs' leading
/// sizes, in order). Which size is the batch is written nowhere; soundness does not
/// depend on the choice (a per-feature input of 16 tried first is refused where it
/// meets the samples). Else the first refusal, or why there was nothing to try.
pub fn first_batch<S>(
    leading: &[Option<SymInt>],
    mut try_batch: impl FnMut(SymInt) -> Result<S, String>,
) -> Result<S, String> {
    let mut candidates: Vec<SymInt> = Vec::new();
    for b in leading.iter().flatten() {
        if b.hint() >= 2 && !candidates.iter().any(|c| c.same_as(b)) {
            candidates.push(b.clone());
        }
    }
    let mut first_error = None;
    for batch in candidates {
        match try_batch(batch) {
            Ok(split) => return Ok(split),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| match leading.first() {
        Some(Some(b)) => format!("the example batch is {}", b.hint()),
        _ => "the program has no batched input".to_string(),
    }))
}

/// The inputs of the half of `n` samples from `start`: each batch-leading input (its
/// index in `inputs`, and its rows per sample) narrowed, a view; the others whole.
pub fn half_inputs(
    inputs: &[Storage],
    input_rows: &[(usize, usize)],
    start: usize,
    n: usize,
) -> Result<Vec<Storage>, RunError> {
    let mut mine = inputs.to_vec();
    for &(k, rows) in input_rows {
        let narrowed = (mine.get(k)).and_then(|s| s.narrow(0, start * rows, n * rows));
        let slot = mine.get_mut(k);
        match (narrowed, slot) {
            (Some(v), Some(slot)) => *slot = v,
            _ => {
                return Err(RunError::Malformed(format!(
                    "input {k} has fewer rows than its batch"
                )))
            }
        }
    }
    Ok(mine)
}

/// What a half computed, once its thread is done.
type HalfResult = Mutex<Option<Result<Vec<Tensor>, RunError>>>;

/// Runs `half(i, start, n)` for the two halves of a batch (`halves[0]` samples from 0,
/// `halves[1]` after them) on two threads of the pool, and stacks their outputs along
/// dim 0; also returns how long the stacking took.
pub fn run_halves(
    halves: [usize; 2],
    half: impl Fn(usize, usize, usize) -> Result<Vec<Tensor>, RunError> + Sync,
) -> Result<(Vec<Tensor>, Duration), RunError> {
    let starts = [0, halves[0]];
    let results: [HalfResult; 2] = [Mutex::new(None), Mutex::new(None)];
    let ok = ferrex_kernels::threads::for_each_range(&[0..1, 1..2], |i, _| {
        if let (Some(slot), Some(&start), Some(&n)) = (results.get(i), starts.get(i), halves.get(i))
        {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(half(i, start, n));
        }
    });
    let [first, second] = results.map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()));
    let (Some(first), Some(second), true) = (first, second, ok) else {
        return Err(RunError::Malformed("a worker thread failed".into()));
    };
    let (first, second) = (first?, second?);
    let stacking = Instant::now();
    let mut out = Vec::with_capacity(first.len());
    for (a, b) in first.iter().zip(&second) {
        let stored = |t: &Tensor| {
            t.try_storage()
                .map_err(|e| RunError::Malformed(e.to_string()))
        };
        let both = Storage::concat(&[stored(a)?, stored(b)?], 0)
            .map_err(|e| RunError::Malformed(format!("the halves' outputs do not stack: {e}")))?;
        out.push(Tensor::from_storage(both));
    }
    Ok((out, stacking.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `calls` calls of batch 8 on two threads, each taking `split_us` or
    /// `whole_us` as chosen; how many ran split.
    fn drive(p: &SplitPolicy, calls: usize, split_us: f64, whole_us: f64) -> usize {
        let mut split = 0;
        for _ in 0..calls {
            let (s, timed) = p.choose_on(8, 2);
            split += usize::from(s);
            if timed {
                p.record(8, s, if s { split_us } else { whole_us } * 1e-6);
            }
        }
        split
    }

    /// `Auto` times both ways, keeps the faster, and times them again after
    /// `SPLIT_RETRY` calls: a decision taken while splitting was slow does not stay.
    #[test]
    fn auto_keeps_the_faster_way_and_times_it_again() {
        let p = SplitPolicy::default();
        let trial = 2 * SPLIT_BLOCK * (SPLIT_ROUNDS + 1);
        // While timing, half of the calls (after the first) run split.
        assert_eq!(drive(&p, trial, 1100.0, 1050.0), trial / 2);
        assert_eq!(drive(&p, SPLIT_RETRY, 750.0, 1050.0), 0, "kept whole");
        assert_eq!(drive(&p, trial, 750.0, 1050.0), trial / 2, "timed again");
        assert_eq!(
            drive(&p, SPLIT_RETRY, 750.0, 1050.0),
            SPLIT_RETRY,
            "now split"
        );
        // One thread: never split, never timed.
        assert_eq!(p.choose_on(8, 1), (false, false));
        p.set_mode(BatchSplit::Always);
        assert_eq!(p.choose_on(8, 2), (true, false));
    }

    /// A decision to run calls of microseconds whole is timed again once its calls took
    /// `SPLIT_RETRY_SECS`, not after `SPLIT_RETRY` calls (which would time a 2 µs call's
    /// two ways every 8 ms); a decision to split them, after `SPLIT_RETRY` calls.
    #[test]
    fn short_calls_are_timed_again_after_seconds_of_them() {
        let p = SplitPolicy::default();
        let trial = 2 * SPLIT_BLOCK * (SPLIT_ROUNDS + 1);
        assert_eq!(drive(&p, trial, 3.0, 2.0), trial / 2);
        let retry_calls = (SPLIT_RETRY_SECS / 2e-6).round() as usize;
        assert_eq!(drive(&p, retry_calls, 1.0, 2.0), 0, "kept whole");
        assert_eq!(drive(&p, trial, 1.0, 2.0), trial / 2, "timed again");
        assert_eq!(drive(&p, SPLIT_RETRY, 1.0, 2.0), SPLIT_RETRY, "now split");
        assert_eq!(drive(&p, trial, 3.0, 2.0), trial / 2, "split timed again");
    }
}
