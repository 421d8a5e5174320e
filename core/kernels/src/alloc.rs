//! The one allocation of user-sized buffers: sizes are checked, bounded by a limit, and
//! reserved with `try_reserve`, so a hostile size is an error instead of an abort.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::KernelError;

/// 0 means "not set yet": the first use reads `FERREX_MEMORY_LIMIT` (bytes) or, without
/// it, the machine's memory — a quarter of the process's address-space or data limit
/// (`ulimit -v` / `ulimit -d`) when that is less: past such a limit an allocation aborts
/// the process instead of failing, so a buffer the check lets through must still fit
/// beside its inputs and a kernel's temporaries.
static LIMIT: AtomicU64 = AtomicU64::new(0);

/// The largest buffer, in bytes, that [`try_filled`] allocates.
pub fn memory_limit() -> u64 {
    let v = LIMIT.load(Ordering::Relaxed);
    if v != 0 {
        return v;
    }
    let v = std::env::var("FERREX_MEMORY_LIMIT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            let machine = machine_memory().unwrap_or(16 << 30);
            process_limit().map_or(machine, |l| machine.min(l / 4))
        });
    LIMIT.store(v, Ordering::Relaxed);
    v
}

/// Sets the limit [`try_filled`] enforces (bytes; 0 restores the default).
pub fn set_memory_limit(bytes: u64) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// The smaller of the process's soft address-space and data limits, when one is set.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn process_limit() -> Option<u64> {
    [libc::RLIMIT_AS, libc::RLIMIT_DATA]
        .into_iter()
        .filter_map(|resource| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `getrlimit` only writes the limit into `limit`, a valid struct this
            // call borrows exclusively; `resource` is one of libc's constants.
            let ok = unsafe { libc::getrlimit(resource, &mut limit) } == 0;
            (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
        })
        .min()
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn process_limit() -> Option<u64> {
    None
}

/// `MemTotal` from `/proc/meminfo`, where there is one.
fn machine_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Why a buffer of user-chosen size cannot be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// Its byte count does not fit a `u64`.
    Overflow,
    /// It exceeds [`memory_limit`].
    OverLimit { bytes: u64, limit: u64 },
    /// The allocator refused it.
    Refused { bytes: u64 },
}

impl std::fmt::Display for AllocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllocError::Overflow => write!(f, "out of memory: the buffer size overflows"),
            AllocError::OverLimit { bytes, limit } => write!(
                f,
                "out of memory: a buffer of {bytes} bytes exceeds the limit of {limit} bytes \
                 (set FERREX_MEMORY_LIMIT to change it)"
            ),
            AllocError::Refused { bytes } => {
                write!(
                    f,
                    "out of memory: a buffer of {bytes} bytes could not be allocated"
                )
            }
        }
    }
}

impl std::error::Error for AllocError {}

impl From<AllocError> for KernelError {
    fn from(e: AllocError) -> KernelError {
        KernelError(e.to_string())
    }
}

/// Buffers at least this large are reserved once before a kernel allocates them, so an
/// allocator refusal is an error here rather than an abort inside the kernel.
const PROBE_BYTES: u64 = 64 << 20;

/// The byte count of `len` elements of `elem_size` bytes, if it is representable and
/// within [`memory_limit`].
fn bytes_within_limit(len: u64, elem_size: u64) -> Result<u64, AllocError> {
    let bytes = len.checked_mul(elem_size).ok_or(AllocError::Overflow)?;
    let limit = memory_limit();
    if bytes > limit {
        return Err(AllocError::OverLimit { bytes, limit });
    }
    Ok(bytes)
}

/// Checks that `len` elements of `elem_size` bytes may be allocated: the byte count does
/// not overflow, is within [`memory_limit`], and (for large buffers) the allocator grants
/// it now. Used for buffers that code outside this crate allocates (eager op outputs).
pub fn check_buffer(len: u64, elem_size: u64) -> Result<(), AllocError> {
    tune_process_allocator();
    let bytes = bytes_within_limit(len, elem_size)?;
    if bytes >= PROBE_BYTES {
        let n = usize::try_from(bytes).map_err(|_| AllocError::Overflow)?;
        let mut probe: Vec<u8> = Vec::new();
        probe
            .try_reserve_exact(n)
            .map_err(|_| AllocError::Refused { bytes })?;
    }
    Ok(())
}

/// Keeps glibc's allocator from returning freed tensor buffers to the kernel between ops.
///
/// By default glibc serves blocks from 128 KiB up with fresh `mmap`s, and gives the top of
/// its heap back once more than twice the largest freed block is free. Eager ops allocate
/// an output per op and free their inputs, so each op's output came from pages the kernel
/// had just taken back: faulting them in, zeroing and unmapping them was 60% of an eager
/// MobileNetV2 block (2.1 ms against 0.56 ms with the pages kept). Blocks up to 32 MiB now
/// come from the heap and up to 64 MiB of free heap is kept. The setting is the process's;
/// it is made once, on the first kernel allocation, unless `FERREX_TUNE_MALLOC=0`.
pub fn tune_process_allocator() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("FERREX_TUNE_MALLOC").is_ok_and(|v| v == "0") {
            return;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: `mallopt` only sets glibc's allocator parameters (under its own lock);
        // the values are within the ranges glibc documents (mmap threshold at most 32 MiB
        // on 64-bit targets).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        }
    });
}

/// Grows `buf` to at least `len` elements (new ones `value`), under the same bound as
/// [`try_filled`]: how a reused buffer (a runtime slot) takes a larger size.
pub fn try_grow<T: Clone>(buf: &mut Vec<T>, len: usize, value: T) -> Result<(), AllocError> {
    if buf.len() >= len {
        return Ok(());
    }
    tune_process_allocator();
    let len64 = u64::try_from(len).map_err(|_| AllocError::Overflow)?;
    let bytes = bytes_within_limit(len64, std::mem::size_of::<T>() as u64)?;
    buf.try_reserve_exact(len - buf.len())
        .map_err(|_| AllocError::Refused { bytes })?;
    buf.resize(len, value);
    Ok(())
}

/// An empty buffer with room for `len` elements, under the same bound as [`try_filled`]:
/// for outputs that a kernel writes whole (through `spare_capacity_mut`), with no fill
/// first.
pub(crate) fn try_with_capacity<T>(len: usize) -> Result<Vec<T>, AllocError> {
    tune_process_allocator();
    let len64 = u64::try_from(len).map_err(|_| AllocError::Overflow)?;
    let bytes = bytes_within_limit(len64, std::mem::size_of::<T>() as u64)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| AllocError::Refused { bytes })?;
    Ok(v)
}

/// A buffer of `len` copies of `value`, or an error when its size overflows, exceeds
/// [`memory_limit`], or cannot be reserved.
pub fn try_filled<T: Clone>(len: usize, value: T) -> Result<Vec<T>, KernelError> {
    let mut v = Vec::new();
    try_grow(&mut v, len, value)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_and_overflowing_sizes_are_errors() {
        assert!(try_filled(usize::MAX, 0u8).is_err());
        assert!(try_filled(1usize << 62, 0f32).is_err());
        assert_eq!(try_filled(3, 1.5f32).unwrap(), [1.5; 3]);
    }
}
