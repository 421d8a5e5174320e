//! The one persistent pool of worker threads behind [`crate::threads::for_each_range`].
//!
//! A call hands part `i` of its work to participant `i % threads` — the caller is
//! participant 0, worker thread `j` participant `j` — so the same columns of a
//! weight go to the same thread on every call and stay in that core's cache. Workers
//! spin briefly after a job (back-to-back kernels of one model start without a
//! wake-up) and then sleep on a condition variable.
//!
//! On Linux each worker keeps to a CPU of its own, other than the one the pool was
//! built on ([`worker_cpus`]): woken from its sleep, a worker was otherwise placed on
//! the caller's CPU now and then (a KVM guest's idle vCPU counts as busy) and shared it
//! with the caller, which then ran both halves of a split call itself, until the load
//! balancer moved the worker some milliseconds later (an interpreted GroupNorm block
//! at 2 threads: 37 µs a call for 100 calls, against 20 on two CPUs and 28 whole).
//! `FERREX_PIN_THREADS=0` leaves the workers where the scheduler puts them.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// How long a worker spins for the next job before sleeping, and the caller for the
/// workers before yielding its core: long enough to bridge the gap between two
/// kernels of one model, short enough not to take a busy machine's cores from others.
/// At 25 µs, the workers of LeNet at batch 8 slept between its kernels (now ~20 µs
/// each) and were woken again: two threads took 159–171 µs against 146–151 on one; at
/// 300 µs, 108–112 µs (quiet machine, 2026-12-03). OpenMP runtimes spin longer still
/// (libgomp ~0.3 ms, Intel's 200 ms).
const SPIN: std::time::Duration = std::time::Duration::from_micros(300);

/// Spins until `ready()` or `SPIN` has passed; whether `ready()`.
fn spin_until(ready: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    loop {
        for _ in 0..16 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= SPIN {
            return ready();
        }
    }
}

/// A job: the caller's closure with its lifetime erased (see [`Pool::run`]).
type JobRef = &'static (dyn Fn(usize) + Sync);

struct Shared {
    /// The id of the latest job, set (under `lock`) after the job is in `job`.
    epoch: AtomicU64,
    /// The current job: its id, the closure, how many workers take part.
    job: Mutex<Option<(u64, JobRef, usize)>>,
    /// Participant slots of the current job not yet finished.
    remaining: AtomicUsize,
    /// Per participant slot, the id of the last job whose part was claimed (by the
    /// worker, or by the caller when the worker had not started it).
    claimed: Vec<AtomicU64>,
    panicked: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

/// The pool: `threads - 1` workers plus the calling thread.
pub struct Pool {
    threads: usize,
    shared: Arc<Shared>,
    /// One job at a time; a call that finds the pool busy (another thread's call, or a
    /// kernel called from inside a job) runs its parts on its own thread.
    busy: Mutex<()>,
}

thread_local! {
    static IN_WORKER: Cell<bool> = const { Cell::new(false) };
}

impl Pool {
    /// A pool of `threads` participants (`threads - 1` spawned workers); fewer if
    /// spawning fails.
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: Mutex::new(None),
            remaining: AtomicUsize::new(0),
            claimed: (0..threads.max(1)).map(|_| AtomicU64::new(0)).collect(),
            panicked: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let mut spawned = 1;
        let cpus = worker_cpus(threads.max(1) - 1);
        for j in 1..threads.max(1) {
            let s = Arc::clone(&shared);
            let cpu = cpus.get(j - 1).copied();
            let ok = std::thread::Builder::new()
                .name(format!("ferrex-{j}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        affinity::pin_current_thread(cpu);
                    }
                    worker(&s, j)
                })
                .is_ok();
            if !ok {
                break;
            }
            spawned += 1;
        }
        Pool {
            threads: spawned,
            shared,
            busy: Mutex::new(()),
        }
    }

    /// Participants (the caller included).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f(i)` for `i` in `0..parts`, part `i` on participant `i % threads`;
    /// returns when all are done. `false` if a part panicked (the others still ran).
    pub fn run(&self, parts: usize, f: &(dyn Fn(usize) + Sync)) -> bool {
        let inline = || catch_unwind(AssertUnwindSafe(|| (0..parts).for_each(f))).is_ok();
        if self.threads == 1 || parts <= 1 || IN_WORKER.with(Cell::get) {
            return inline();
        }
        let Ok(_busy) = self.busy.try_lock() else {
            return inline();
        };
        let t = self.threads;
        let mine = move |p: usize| {
            let mut i = p;
            while i < parts {
                f(i);
                i += t;
            }
        };
        let workers = (t - 1).min(parts - 1);
        // SAFETY: the job reference is erased to `'static` only while this call runs. A
        // worker calls it only after claiming its slot for this job's id (a stale
        // worker's claim fails: the slot holds this id or a later one), and every
        // claimed slot holds up `remaining`, which `Done` (below) waits to reach zero
        // — even when this thread unwinds — before `run` returns. So no worker calls
        // the reference after `run` returns.
        let job: JobRef = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), JobRef>(&mine) };
        self.shared.panicked.store(false, Ordering::Relaxed);
        self.shared.remaining.store(workers, Ordering::Release);
        let id = self.shared.epoch.load(Ordering::Acquire) + 1;
        match self.shared.job.lock() {
            Ok(mut slot) => *slot = Some((id, job, workers)),
            Err(_) => return inline(),
        }
        {
            let _g = self.shared.lock.lock();
            self.shared.epoch.store(id, Ordering::Release);
            self.shared.wake.notify_all();
        }
        let done = Done(&self.shared);
        let mut ok = catch_unwind(AssertUnwindSafe(|| mine(0))).is_ok();
        // Parts whose worker has not started them (descheduled, asleep): the caller
        // runs them, so a busy machine never waits on a wake-up.
        for j in 1..=workers {
            if self.shared.claim(j, id) {
                ok &= catch_unwind(AssertUnwindSafe(|| mine(j))).is_ok();
                self.shared.remaining.fetch_sub(1, Ordering::AcqRel);
            }
        }
        drop(done);
        ok && !self.shared.panicked.load(Ordering::Acquire)
    }
}

impl Shared {
    /// Claims participant slot `j` of job `id`: true for the first claimant only.
    fn claim(&self, j: usize, id: u64) -> bool {
        let Some(c) = self.claimed.get(j) else {
            return false;
        };
        let cur = c.load(Ordering::Acquire);
        cur < id
            && c.compare_exchange(cur, id, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

/// Waits for the workers of the current job, then clears it (also on unwind).
struct Done<'a>(&'a Shared);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        if !spin_until(|| self.0.remaining.load(Ordering::Acquire) == 0) {
            while self.0.remaining.load(Ordering::Acquire) != 0 {
                std::thread::yield_now();
            }
        }
        if let Ok(mut slot) = self.0.job.lock() {
            *slot = None;
        }
    }
}

fn worker(s: &Shared, me: usize) {
    IN_WORKER.with(|w| w.set(true));
    // The id of the last job this worker took (or saw finish without it). Jobs are
    // numbered from 1, so a worker that starts late still takes the first one.
    let mut last = 0;
    loop {
        if !spin_until(|| s.epoch.load(Ordering::Acquire) != last) {
            let Ok(mut g) = s.lock.lock() else { return };
            while s.epoch.load(Ordering::Acquire) == last {
                g = match s.wake.wait(g) {
                    Ok(g) => g,
                    Err(_) => return,
                };
            }
        }
        let seen = s.epoch.load(Ordering::Acquire);
        let Ok(slot) = s.job.lock().map(|j| *j) else {
            return;
        };
        match slot {
            // A job not yet taken: the caller waits for this worker if it takes part.
            Some((id, f, workers)) if id != last => {
                last = id;
                // Only a claimed part touches `f`: the caller has not returned (it
                // waits for `remaining`, which this part holds up).
                if me <= workers && s.claim(me, id) {
                    if catch_unwind(AssertUnwindSafe(|| f(me))).is_err() {
                        s.panicked.store(true, Ordering::Release);
                    }
                    s.remaining.fetch_sub(1, Ordering::AcqRel);
                }
            }
            // The job of `seen` finished without this worker (or is the one it took).
            _ => last = last.max(seen),
        }
    }
}

/// The CPUs for `workers` workers, one each: the CPUs this thread may use other than
/// the one it runs on, in order; none (no pinning) when there are fewer of them, off
/// Linux, or with `FERREX_PIN_THREADS=0`.
fn worker_cpus(workers: usize) -> Vec<usize> {
    if workers == 0 || std::env::var("FERREX_PIN_THREADS").is_ok_and(|v| v == "0") {
        return Vec::new();
    }
    let Some((allowed, current)) = affinity::allowed_and_current() else {
        return Vec::new();
    };
    let others: Vec<usize> = allowed.into_iter().filter(|&c| c != current).collect();
    match others.len() >= workers {
        true => others.into_iter().take(workers).collect(),
        false => Vec::new(),
    }
}

/// The calling thread's CPUs (Linux's `sched_getaffinity` / `sched_setaffinity`).
mod affinity {
    /// The CPUs this thread may run on, and the one it runs on now.
    #[cfg(target_os = "linux")]
    pub(super) fn allowed_and_current() -> Option<(Vec<usize>, usize)> {
        // SAFETY: a zeroed `cpu_set_t` is a valid empty set; `sched_getaffinity` writes
        // at most `size_of::<cpu_set_t>()` bytes into it, which this call borrows
        // exclusively; `sched_getcpu` takes no arguments.
        let (set, current) = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            if libc::sched_getaffinity(0, size, &mut set) != 0 {
                return None;
            }
            (set, libc::sched_getcpu())
        };
        let current = usize::try_from(current).ok()?;
        let bits = 8 * std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `CPU_ISSET` reads bit `c` of the set, `c` below its size in bits.
        let allowed = (0..bits).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) });
        Some((allowed.collect(), current))
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn allowed_and_current() -> Option<(Vec<usize>, usize)> {
        None
    }

    /// Keeps the calling thread on `cpu` (best effort: a refusal leaves it free).
    #[cfg(target_os = "linux")]
    pub(super) fn pin_current_thread(cpu: usize) {
        if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
            return;
        }
        // SAFETY: a zeroed `cpu_set_t` is a valid empty set; `CPU_SET` sets bit `cpu`,
        // below its size in bits (checked above); `sched_setaffinity` reads the set,
        // which outlives the call, for the calling thread (pid 0).
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn pin_current_thread(_cpu: usize) {}
}

/// The process's pool, with [`crate::threads::num_threads`] participants.
pub fn global() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(crate::threads::num_threads()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_on_its_participant_or_the_caller() {
        let pool = Pool::new(3);
        for parts in [0, 1, 2, 3, 7] {
            let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            let names: Vec<Mutex<String>> = (0..parts).map(|_| Mutex::new(String::new())).collect();
            let ok = pool.run(parts, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
                let name = std::thread::current().name().unwrap_or("").to_string();
                *names[i].lock().unwrap() = name;
            });
            assert!(ok);
            assert!(
                hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                "{parts} parts"
            );
            // Part i runs on worker i % 3, or on the caller (which takes the parts of a
            // worker that has not started them).
            for (i, n) in names.iter().enumerate() {
                let n = n.lock().unwrap().clone();
                let worker = format!("ferrex-{}", i % 3);
                assert!(n == worker || !n.starts_with("ferrex-"), "part {i} on {n}");
            }
        }
    }

    #[test]
    fn a_panicking_part_is_reported_and_the_pool_still_works() {
        let pool = Pool::new(2);
        assert!(!pool.run(2, &|i| assert_ne!(i, 1, "part 1 fails")));
        assert!(!pool.run(2, &|i| assert_ne!(i, 0, "part 0 fails")));
        let sum = AtomicUsize::new(0);
        assert!(pool.run(4, &|i| {
            sum.fetch_add(i, Ordering::Relaxed);
        }));
        assert_eq!(sum.load(Ordering::Relaxed), 6);
    }

    /// Workers get CPUs this thread may use, one each, never more than asked; a thread
    /// pinned to a CPU runs there.
    #[cfg(target_os = "linux")]
    #[test]
    fn workers_keep_to_allowed_cpus_of_their_own() {
        let (allowed, current) = affinity::allowed_and_current().unwrap();
        assert!(allowed.contains(&current), "{current} in {allowed:?}");
        for workers in 1..=allowed.len() {
            let cpus = worker_cpus(workers);
            assert!(cpus.is_empty() || cpus.len() == workers, "{cpus:?}");
            assert!(cpus.iter().all(|c| allowed.contains(c)), "{cpus:?}");
            let mut distinct = cpus.clone();
            distinct.dedup();
            assert_eq!(distinct, cpus);
        }
        // Every allowed CPU but the current one: one too many workers for them.
        assert!(worker_cpus(allowed.len()).is_empty());
        let last = *allowed.last().unwrap();
        let ran_on = std::thread::spawn(move || {
            affinity::pin_current_thread(last);
            affinity::allowed_and_current().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(ran_on, (vec![last], last));
    }

    #[test]
    fn a_nested_call_runs_inline() {
        let pool = Pool::new(2);
        let sum = AtomicUsize::new(0);
        assert!(pool.run(2, &|_| {
            assert!(pool.run(3, &|j| {
                sum.fetch_add(j, Ordering::Relaxed);
            }));
        }));
        assert_eq!(sum.load(Ordering::Relaxed), 6);
    }
}
