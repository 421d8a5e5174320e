//! The one allocation of user-sized buffers: sizes are checked, bounded by a limit, and
//! reserved with `try_reserve`, so a hostile size is an error instead of an abort.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::KernelError;

/// 0 means "not set yet": the first use reads `FERREX_MEMORY_LIMIT` (bytes) or, without
/// it, the machine's memory.
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
        .or_else(machine_memory)
        .unwrap_or(16 << 30);
    LIMIT.store(v, Ordering::Relaxed);
    v
}

/// Sets the limit [`try_filled`] enforces (bytes; 0 restores the default).
pub fn set_memory_limit(bytes: u64) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// `MemTotal` from `/proc/meminfo`, where there is one.
fn machine_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A buffer of `len` copies of `value`, or an error when its size overflows, exceeds
/// [`memory_limit`], or cannot be reserved.
pub fn try_filled<T: Clone>(len: usize, value: T) -> Result<Vec<T>, KernelError> {
    let bytes = len
        .checked_mul(std::mem::size_of::<T>())
        .and_then(|b| u64::try_from(b).ok())
        .ok_or_else(|| KernelError::new("the buffer size overflows"))?;
    let limit = memory_limit();
    if bytes > limit {
        return Err(KernelError(format!(
            "out of memory: a buffer of {bytes} bytes exceeds the limit of {limit} bytes \
             (set FERREX_MEMORY_LIMIT to change it)"
        )));
    }
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|e| KernelError(format!("out of memory: {e}")))?;
    v.resize(len, value);
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
