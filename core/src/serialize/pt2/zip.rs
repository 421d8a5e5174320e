//! A small reader of a zip file's central directory, for the stored (uncompressed)
//! entries PyTorch writes. Everything read from the file is validated before use:
//! signatures, counts, every offset and size against the file's length, zip64 records
//! only where the end record points to them.
//!
//! Why not the `zip` crate: it looks for the zip64 end-of-directory locator by
//! searching backwards through the file, and takes bytes inside an entry's data that
//! happen to spell the zip64 signatures for the real record (PyTorch's `convnet8.pt2`:
//! a weight contains `PK\x06\x06`, so the crate reports "Invalid Central Directory
//! header"). Here the locator is only accepted at its one legal place, the 20 bytes
//! right before the end record.

/// One entry of the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// 0 = stored; anything else is refused when the entry is read.
    pub method: u16,
    pub compressed_size: u64,
    pub size: u64,
    pub crc32: u32,
    /// Offset of the entry's local header.
    pub header_offset: u64,
}

/// A zip file in memory and its entries.
pub struct Archive<'a> {
    bytes: &'a [u8],
    pub entries: Vec<Entry>,
}

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(s))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(s))
}

fn to_usize(v: u64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{what} {v} is too large"))
}

/// Where the central directory is: (entry count, offset, size).
struct Directory {
    count: u64,
    offset: u64,
    size: u64,
}

/// The end-of-central-directory record: the last `PK\x05\x06` whose comment ends the
/// file exactly.
fn find_eocd(b: &[u8]) -> Result<usize, String> {
    if b.len() < 22 {
        return Err(format!(
            "not a zip archive ({} bytes, shorter than an end record)",
            b.len()
        ));
    }
    let earliest = b.len().saturating_sub(22 + 0xFFFF);
    let mut at = b.len() - 22;
    loop {
        if u32_at(b, at) == Some(EOCD) {
            let comment = u16_at(b, at + 20).map_or(usize::MAX, usize::from);
            if at + 22 + comment == b.len() {
                return Ok(at);
            }
        }
        if at == earliest {
            return Err("not a zip archive (no end-of-central-directory record)".into());
        }
        at -= 1;
    }
}

fn directory(b: &[u8], eocd: usize) -> Result<Directory, String> {
    let short = || "the end record is truncated".to_string();
    let disk = u16_at(b, eocd + 4).ok_or_else(short)?;
    let cd_disk = u16_at(b, eocd + 6).ok_or_else(short)?;
    let count = u16_at(b, eocd + 10).ok_or_else(short)?;
    let size = u32_at(b, eocd + 12).ok_or_else(short)?;
    let offset = u32_at(b, eocd + 16).ok_or_else(short)?;
    let locator = eocd
        .checked_sub(20)
        .filter(|&l| u32_at(b, l) == Some(ZIP64_LOCATOR));
    let Some(loc) = locator else {
        if disk != 0 || cd_disk != 0 {
            return Err("multi-disk zip archives are not supported".into());
        }
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            return Err("the end record asks for zip64 records, but there is none".into());
        }
        return Ok(Directory {
            count: count.into(),
            offset: offset.into(),
            size: size.into(),
        });
    };
    let z = u64_at(b, loc + 8).ok_or("the zip64 locator is truncated")?;
    let z = to_usize(z, "zip64 end record offset")?;
    if z.checked_add(56).is_none_or(|end| end > loc) || u32_at(b, z) != Some(ZIP64_EOCD) {
        return Err(format!(
            "the zip64 locator points to offset {z}, where there is no zip64 end record"
        ));
    }
    let short = || "the zip64 end record is truncated".to_string();
    Ok(Directory {
        count: u64_at(b, z + 32).ok_or_else(short)?,
        size: u64_at(b, z + 40).ok_or_else(short)?,
        offset: u64_at(b, z + 48).ok_or_else(short)?,
    })
}

/// The zip64 extended-information extra field (id 1) fills in the fields that are
/// saturated in the fixed header, in the order size, compressed size, offset.
fn zip64_extra(extra: &[u8], entry: &mut Entry) -> Result<(), String> {
    let mut at = 0usize;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at).unwrap_or(0);
        let len = usize::from(u16_at(extra, at + 2).unwrap_or(0));
        let body = extra
            .get(at + 4..at + 4 + len)
            .ok_or_else(|| format!("entry `{}`: an extra field overruns its header", entry.name))?;
        if id == 1 {
            let mut p = 0usize;
            let mut next = |field: &mut u64| -> Result<(), String> {
                if *field == 0xFFFF_FFFF {
                    *field = u64_at(body, p)
                        .ok_or_else(|| format!("entry `{}`: zip64 field missing", entry.name))?;
                    p += 8;
                }
                Ok(())
            };
            let (mut size, mut csize, mut off) =
                (entry.size, entry.compressed_size, entry.header_offset);
            next(&mut size)?;
            next(&mut csize)?;
            next(&mut off)?;
            (entry.size, entry.compressed_size, entry.header_offset) = (size, csize, off);
        }
        at += 4 + len;
    }
    Ok(())
}

fn central_entry(b: &[u8], at: usize, end: usize) -> Result<(Entry, usize), String> {
    let short = || format!("the central directory is truncated at offset {at}");
    if at.checked_add(46).is_none_or(|e| e > end) || u32_at(b, at) != Some(CENTRAL) {
        return Err(format!("no central directory header at offset {at}"));
    }
    let method = u16_at(b, at + 10).ok_or_else(short)?;
    let crc32 = u32_at(b, at + 16).ok_or_else(short)?;
    let csize = u32_at(b, at + 20).ok_or_else(short)?;
    let size = u32_at(b, at + 24).ok_or_else(short)?;
    let name_len = usize::from(u16_at(b, at + 28).ok_or_else(short)?);
    let extra_len = usize::from(u16_at(b, at + 30).ok_or_else(short)?);
    let comment_len = usize::from(u16_at(b, at + 32).ok_or_else(short)?);
    let offset = u32_at(b, at + 42).ok_or_else(short)?;
    let next = at + 46 + name_len + extra_len + comment_len;
    if next > end {
        return Err(short());
    }
    let name = std::str::from_utf8(&b[at + 46..at + 46 + name_len])
        .map_err(|_| format!("an entry name at offset {at} is not UTF-8"))?
        .to_string();
    let mut entry = Entry {
        name,
        method,
        compressed_size: csize.into(),
        size: size.into(),
        crc32,
        header_offset: offset.into(),
    };
    let extra = &b[at + 46 + name_len..at + 46 + name_len + extra_len];
    zip64_extra(extra, &mut entry)?;
    Ok((entry, next))
}

impl<'a> Archive<'a> {
    /// Reads the central directory of the zip file `bytes`.
    pub fn new(bytes: &'a [u8]) -> Result<Archive<'a>, String> {
        let eocd = find_eocd(bytes)?;
        let dir = directory(bytes, eocd)?;
        let start = to_usize(dir.offset, "central directory offset")?;
        let size = to_usize(dir.size, "central directory size")?;
        let end = start
            .checked_add(size)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                format!(
                    "the central directory ({size} bytes at offset {start}) lies outside the \
                     file ({} bytes)",
                    bytes.len()
                )
            })?;
        // Each header is at least 46 bytes: a count beyond that is a lie.
        if dir.count > (size / 46) as u64 {
            return Err(format!(
                "the end record lists {} entries, more than a {size}-byte directory holds",
                dir.count
            ));
        }
        let mut entries = Vec::new();
        let mut at = start;
        for _ in 0..dir.count {
            let (entry, next) = central_entry(bytes, at, end)?;
            entries.push(entry);
            at = next;
        }
        Ok(Archive { bytes, entries })
    }

    /// The entry named `name`, if any.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The bytes of a stored entry, checked against the file's bounds and its CRC-32.
    pub fn read(&self, entry: &Entry) -> Result<&'a [u8], String> {
        let bytes = self.locate(entry)?;
        if crc32(bytes) != entry.crc32 {
            return Err(format!(
                "entry `{}` is damaged (CRC-32 mismatch)",
                entry.name
            ));
        }
        Ok(bytes)
    }

    /// The bytes of a stored entry, checked against the file's bounds but not read:
    /// for a tool that only needs where an entry lies (`ferrex-aot` finding the weights
    /// it embeds without hashing them again).
    pub fn locate(&self, entry: &Entry) -> Result<&'a [u8], String> {
        let name = &entry.name;
        if entry.method != 0 {
            return Err(format!(
                "entry `{name}` is compressed (method {}); PyTorch archives store entries \
                 uncompressed",
                entry.method
            ));
        }
        if entry.size != entry.compressed_size {
            return Err(format!("stored entry `{name}` has two different sizes"));
        }
        let b = self.bytes;
        let at = to_usize(entry.header_offset, "local header offset")?;
        if u32_at(b, at) != Some(LOCAL) {
            return Err(format!("entry `{name}`: no local header at offset {at}"));
        }
        let short = || format!("entry `{name}`: the local header is truncated");
        let name_len = usize::from(u16_at(b, at + 26).ok_or_else(short)?);
        let extra_len = usize::from(u16_at(b, at + 28).ok_or_else(short)?);
        let data = at + 30 + name_len + extra_len;
        let len = to_usize(entry.size, "entry size")?;
        let bytes = data
            .checked_add(len)
            .and_then(|end| b.get(data..end))
            .ok_or_else(|| {
                format!(
                    "entry `{name}` ({len} bytes at offset {data}) lies outside the file ({} bytes)",
                    b.len()
                )
            })?;
        Ok(bytes)
    }
}

/// The bytes of the zip file `file` with only its structure read: the end records, the
/// central directory, every local header, and the data of the entries `want` names;
/// everything else is zeros (so an entry not read fails its CRC-32 check, never passes
/// for its data). For a code generator that needs an archive's layout and JSON but not
/// its weights (`pt2::structure_from_bytes`): the time does not grow with the entries
/// not wanted. The buffer has the file's length, allocated zeroed (pages the system maps
/// on first touch), within the memory limit (`ferrex_kernels::alloc::check_buffer`).
pub fn read_sparse<R: std::io::Read + std::io::Seek>(
    file: &mut R,
    want: impl Fn(&str) -> bool,
) -> Result<Vec<u8>, String> {
    let len = file
        .seek(std::io::SeekFrom::End(0))
        .map_err(|e| e.to_string())?;
    ferrex_kernels::alloc::check_buffer(len, 1).map_err(|e| e.to_string())?;
    let mut b = vec![0u8; to_usize(len, "file size")?];
    // The end record and its comment, and the zip64 locator right before them, found
    // in the file's last bytes (which may hold entry data: only the records are kept).
    let tail_at = len.saturating_sub(22 + 0xFFFF + 20);
    let mut tail = vec![0u8; to_usize(len - tail_at, "file size")?];
    read_at(file, &mut tail, tail_at)?;
    let records = find_eocd(&tail)?.saturating_sub(20);
    let kept = to_usize(tail_at, "offset")? + records;
    b[kept..].copy_from_slice(&tail[records..]);
    let eocd = find_eocd(&b)?;
    let mut fill = |b: &mut [u8], at: u64, n: u64| -> Result<(), String> {
        let range = to_usize(at, "offset")?..to_usize(at.saturating_add(n), "offset")?;
        let part = b.get_mut(range).ok_or_else(|| {
            format!("{n} bytes at offset {at} lie outside the file ({len} bytes)")
        })?;
        read_at(file, part, at)
    };
    let locator = eocd
        .checked_sub(20)
        .filter(|&l| u32_at(&b, l) == Some(ZIP64_LOCATOR));
    if let Some(z) = locator.and_then(|l| u64_at(&b, l + 8)) {
        fill(&mut b, z, 56)?;
    }
    let dir = directory(&b, eocd)?;
    fill(&mut b, dir.offset, dir.size)?;
    let entries = Archive::new(&b)?.entries;
    for e in &entries {
        fill(&mut b, e.header_offset, 30)?;
        let header = to_usize(e.header_offset, "local header offset")?;
        let name_len = u16_at(&b, header + 26).map_or(0, u64::from);
        let extra_len = u16_at(&b, header + 28).map_or(0, u64::from);
        let name_at = e.header_offset.saturating_add(30);
        fill(&mut b, name_at, name_len + extra_len)?;
        if want(&e.name) {
            fill(&mut b, name_at.saturating_add(name_len + extra_len), e.size)?;
        }
    }
    Ok(b)
}

/// `buf.len()` bytes of `file` from offset `at`.
fn read_at<R: std::io::Read + std::io::Seek>(
    file: &mut R,
    buf: &mut [u8],
    at: u64,
) -> Result<(), String> {
    file.seek(std::io::SeekFrom::Start(at))
        .and_then(|_| file.read_exact(buf))
        .map_err(|e| e.to_string())
}

/// CRC-32 (IEEE), as zip uses it: slicing-by-8 (eight bytes a step through eight
/// tables), so checking a large archive's weights costs little next to reading them.
pub fn crc32(data: &[u8]) -> u32 {
    static TABLES: std::sync::OnceLock<[[u32; 256]; 8]> = std::sync::OnceLock::new();
    let t = TABLES.get_or_init(|| {
        let mut t = [[0u32; 256]; 8];
        for (i, slot) in (0u32..).zip(t[0].iter_mut()) {
            let mut c = i;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        for k in 1..8 {
            for i in 0..256 {
                let prev = t[k - 1][i];
                t[k][i] = (prev >> 8) ^ t[0][usize::from(prev as u8)];
            }
        }
        t
    });
    let byte = |x: u32, shift: u32| usize::from((x >> shift) as u8);
    let mut crc = 0xFFFF_FFFFu32;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][byte(lo, 0)]
            ^ t[6][byte(lo, 8)]
            ^ t[5][byte(lo, 16)]
            ^ t[4][byte(lo, 24)]
            ^ t[3][byte(hi, 0)]
            ^ t[2][byte(hi, 8)]
            ^ t[1][byte(hi, 16)]
            ^ t[0][byte(hi, 24)];
    }
    for &b in chunks.remainder() {
        crc = t[0][usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    !crc
}
