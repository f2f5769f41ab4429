//! Memory: sparse 4 KiB pages, mapped explicitly (the image's sections, the platform's
//! areas). An access to an unmapped byte stops the run: pv's code touches only what it names.

use std::collections::HashMap;

const PAGE: u64 = 4096;

/// A sparse little-endian address space.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    pages: HashMap<u64, Box<[u8; PAGE as usize]>>,
}

impl Memory {
    /// Maps the pages covering `[addr, addr + len)` (zero-filled where new).
    pub fn map(&mut self, addr: u64, len: u64) {
        let end = addr.saturating_add(len);
        let mut page = addr / PAGE;
        while page * PAGE < end {
            self.pages
                .entry(page)
                .or_insert_with(|| Box::new([0; PAGE as usize]));
            page += 1;
        }
    }

    /// Maps and writes `bytes` at `addr`.
    pub fn load(&mut self, addr: u64, bytes: &[u8]) {
        self.map(addr, bytes.len() as u64);
        for (i, b) in bytes.iter().enumerate() {
            let a = addr + i as u64;
            if let Some(p) = self.pages.get_mut(&(a / PAGE)) {
                p[(a % PAGE) as usize] = *b;
            }
        }
    }

    /// `size` bytes at `addr` as a little-endian integer; `None` if any byte is unmapped.
    pub fn read(&self, addr: u64, size: u8) -> Option<u64> {
        (0..u64::from(size)).try_fold(0u64, |v, i| {
            let a = addr.wrapping_add(i);
            let b = self.pages.get(&(a / PAGE))?[(a % PAGE) as usize];
            Some(v | u64::from(b) << (8 * i))
        })
    }

    /// Writes the low `size` bytes of `v` at `addr`; `None` (nothing written) if any byte is
    /// unmapped.
    pub fn write(&mut self, addr: u64, size: u8, v: u64) -> Option<()> {
        let all =
            (0..u64::from(size)).all(|i| self.pages.contains_key(&(addr.wrapping_add(i) / PAGE)));
        if !all {
            return None;
        }
        for i in 0..u64::from(size) {
            let a = addr.wrapping_add(i);
            self.pages.get_mut(&(a / PAGE))?[(a % PAGE) as usize] = (v >> (8 * i)) as u8;
        }
        Some(())
    }

    /// 16 bytes at `addr`.
    pub fn bundle(&self, addr: u64) -> Option<[u8; 16]> {
        let lo = self.read(addr, 8)?;
        let hi = self.read(addr.wrapping_add(8), 8)?;
        let mut b = [0; 16];
        b[..8].copy_from_slice(&lo.to_le_bytes());
        b[8..].copy_from_slice(&hi.to_le_bytes());
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmapped_bytes_are_refused() {
        let mut m = Memory::default();
        m.load(0x1ffe, &[1, 2, 3, 4]);
        assert_eq!(m.read(0x1ffe, 4), Some(0x04030201));
        assert_eq!(m.read(0x3000, 1), None);
        assert_eq!(m.write(0x2ffe, 8, 0), None);
        assert_eq!(
            m.read(0x2ffe, 1),
            Some(0),
            "nothing written by a refused store"
        );
    }
}
