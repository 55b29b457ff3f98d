//! How many bytes of an upload count: its length sidecar, `uploads/<id>.len`.
//!
//! The sidecar holds two slots in separate filesystem blocks, each a length and a checksum
//! of it. Counted lengths only grow, so the larger valid slot is the length. Counting a
//! chunk overwrites the other slot in place and syncs it: one block written, no file
//! created and no directory entry changed, and a write torn by a crash leaves the previous
//! length in the slot it did not touch.
//!
//! Sidecars written by earlier versions hold the length in decimal. They are read as such,
//! and replaced whole (a new file renamed into place) the first time the upload grows.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use berth_store::{StoreError, StoreResult};

use crate::{io, is_not_found};

/// Where the slots start: the second in the next 4 KiB block, so writing one never touches
/// the other's block.
const SLOTS: [u64; 2] = [0, 4096];
const SLOT_LEN: usize = 16;
const FILE_LEN: usize = 4096 + SLOT_LEN;

/// An upload's counted length, and which slot the next one goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CountedLen {
    pub(crate) len: u64,
    /// `None` when the sidecar must be written whole: missing (a crash between creating the
    /// upload's two files) or in the old decimal form.
    next_slot: Option<usize>,
}

fn checksum(len: u64) -> [u8; 8] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"berth upload length");
    ctx.update(&len.to_le_bytes());
    let digest = ctx.finish();
    let mut check = [0_u8; 8];
    check.copy_from_slice(digest.as_ref().get(..8).unwrap_or_default());
    check
}

fn slot_bytes(len: u64) -> [u8; SLOT_LEN] {
    let mut slot = [0_u8; SLOT_LEN];
    let (value, check) = slot.split_at_mut(8);
    value.copy_from_slice(&len.to_le_bytes());
    check.copy_from_slice(&checksum(len));
    slot
}

fn parse_slot(bytes: &[u8]) -> Option<u64> {
    let value: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let len = u64::from_le_bytes(value);
    (bytes.get(8..SLOT_LEN)? == checksum(len).as_slice()).then_some(len)
}

/// Reads a sidecar's bytes: `None` when they are neither form (or both slots are torn).
fn parse(bytes: &[u8]) -> Option<CountedLen> {
    if bytes.len() != FILE_LEN {
        let text = std::str::from_utf8(bytes).ok()?.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return Some(CountedLen {
            len: text.parse().ok()?,
            next_slot: None,
        });
    }
    let [first, second] = SLOTS.map(|at| {
        let at = usize::try_from(at).unwrap_or(usize::MAX);
        bytes
            .get(at..at.saturating_add(SLOT_LEN))
            .and_then(parse_slot)
    });
    match (first, second) {
        (Some(a), Some(b)) if a >= b => Some(CountedLen {
            len: a,
            next_slot: Some(1),
        }),
        (Some(_), Some(b)) | (None, Some(b)) => Some(CountedLen {
            len: b,
            next_slot: Some(0),
        }),
        (Some(a), None) => Some(CountedLen {
            len: a,
            next_slot: Some(1),
        }),
        (None, None) => None,
    }
}

/// The counted length of an upload: `NotFound` without a data file; 0 without a sidecar.
pub(crate) fn read(data: &Path, len_file: &Path) -> StoreResult<CountedLen> {
    match std::fs::metadata(data) {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Err(StoreError::NotFound),
        Err(e) => return Err(io("reading upload")(e)),
    }
    match std::fs::read(len_file) {
        Ok(bytes) => parse(&bytes).ok_or_else(|| {
            StoreError::Backend(format!(
                "upload length file {} is unreadable",
                len_file.display()
            ))
        }),
        Err(e) if is_not_found(&e) => Ok(CountedLen {
            len: 0,
            next_slot: None,
        }),
        Err(e) => Err(io("reading upload length")(e)),
    }
}

/// Writes a whole sidecar saying `len` to `tmp`, synced, and renames it to `len_file`. The
/// caller makes the rename durable by syncing the directory.
pub(crate) fn create(len_file: &Path, tmp: &Path, len: u64) -> std::io::Result<()> {
    let written = (|| {
        let mut bytes = vec![0_u8; FILE_LEN];
        for at in SLOTS {
            let at = usize::try_from(at).unwrap_or(usize::MAX);
            if let Some(slot) = bytes.get_mut(at..at.saturating_add(SLOT_LEN)) {
                slot.copy_from_slice(&slot_bytes(len));
            }
        }
        let mut f = File::create_new(tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(tmp, len_file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    written
}

/// Records `new_len` as the upload's counted length, durably: in place when the sidecar
/// has slots, else as a whole new sidecar (through `tmp`) with its directory synced.
pub(crate) fn record(
    len_file: &Path,
    tmp: &Path,
    current: CountedLen,
    new_len: u64,
) -> std::io::Result<()> {
    match current.next_slot.and_then(|i| SLOTS.get(i)) {
        Some(&at) => {
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new().write(true).open(len_file)?;
            f.write_all_at(&slot_bytes(new_len), at)?;
            f.sync_data()
        }
        None => {
            create(len_file, tmp, new_len)?;
            match len_file.parent() {
                Some(dir) => File::open(dir)?.sync_all(),
                None => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("upload");
        std::fs::write(&data, b"").unwrap();
        let len_file = dir.path().join("upload.len");
        (dir, data, len_file)
    }

    #[test]
    fn lengths_grow_through_both_slots() {
        let (dir, data, len_file) = files();
        let tmp = dir.path().join("tmp");
        create(&len_file, &tmp, 0).unwrap();
        let mut current = read(&data, &len_file).unwrap();
        assert_eq!(current.len, 0);
        for new_len in [5, 5, 1 << 33, (1 << 33) + 1] {
            record(&len_file, &tmp, current, new_len).unwrap();
            current = read(&data, &len_file).unwrap();
            assert_eq!(current.len, new_len);
            assert!(current.next_slot.is_some());
        }
        assert_eq!(std::fs::metadata(&len_file).unwrap().len(), FILE_LEN as u64);
    }

    #[test]
    fn a_torn_slot_leaves_the_previous_length() {
        let (dir, data, len_file) = files();
        let tmp = dir.path().join("tmp");
        create(&len_file, &tmp, 10).unwrap();
        let current = read(&data, &len_file).unwrap();
        record(&len_file, &tmp, current, 20).unwrap();
        assert_eq!(read(&data, &len_file).unwrap().len, 20);
        // Tear the slot just written: the other one still says 10, and is written next.
        let mut bytes = std::fs::read(&len_file).unwrap();
        let torn = usize::try_from(SLOTS[current.next_slot.unwrap()]).unwrap();
        bytes[torn + 3] ^= 0xff;
        std::fs::write(&len_file, &bytes).unwrap();
        let after = read(&data, &len_file).unwrap();
        assert_eq!(after.len, 10);
        assert_eq!(after.next_slot, current.next_slot);
    }

    #[test]
    fn old_decimal_sidecars_are_read_and_replaced() {
        let (dir, data, len_file) = files();
        std::fs::write(&len_file, "12345").unwrap();
        let current = read(&data, &len_file).unwrap();
        assert_eq!(current.len, 12345);
        assert_eq!(current.next_slot, None);
        record(&len_file, &dir.path().join("tmp"), current, 20000).unwrap();
        let after = read(&data, &len_file).unwrap();
        assert_eq!(after.len, 20000);
        assert!(after.next_slot.is_some());
    }

    #[test]
    fn missing_sidecar_is_zero_and_garbage_is_an_error() {
        let (_dir, data, len_file) = files();
        assert_eq!(read(&data, &len_file).unwrap().len, 0);
        for garbage in [&b""[..], b"12a", b"-1", &[0xff; FILE_LEN]] {
            std::fs::write(&len_file, garbage).unwrap();
            assert!(read(&data, &len_file).is_err(), "{garbage:?}");
        }
        std::fs::remove_file(&data).unwrap();
        assert!(matches!(read(&data, &len_file), Err(StoreError::NotFound)));
    }
}
