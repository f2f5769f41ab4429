//! KVM's binary statistics for one vCPU (`KVM_GET_STATS_FD`, Linux
//! `Documentation/virt/kvm/api.rst` "KVM_GET_STATS_FD"): the exits and emulated instructions
//! KVM handled in the kernel, which never reach the monitor as exits of their own.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;

/// `KVM_GET_STATS_FD` = `_IO(KVMIO, 0xce)` (Linux `include/uapi/linux/kvm.h`).
const KVM_GET_STATS_FD: libc::c_ulong = 0xae << 8 | 0xce;

/// An open statistics file: its descriptors, read once.
pub struct Stats {
    file: File,
    /// (name, offset of the value in the file) for every one-value statistic.
    fields: Vec<(String, u64)>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Stats {
    /// Opens the statistics of the vCPU (or VM) behind `fd`.
    pub fn open(fd: &impl AsRawFd) -> io::Result<Stats> {
        // SAFETY: KVM_GET_STATS_FD takes no argument and returns a new descriptor we own.
        let raw = unsafe { libc::ioctl(fd.as_raw_fd(), KVM_GET_STATS_FD, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor owned by nothing else.
        let file = unsafe { File::from_raw_fd(raw) };
        // struct kvm_stats_header: flags, name_size, num_desc, id_offset, desc_offset,
        // data_offset (u32 each).
        let mut header = [0u8; 24];
        file.read_exact_at(&mut header, 0)?;
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "short stats header");
        let name_size = u32_at(&header, 4).ok_or_else(bad)? as usize;
        let num_desc = u32_at(&header, 8).ok_or_else(bad)? as usize;
        let desc_offset = u32_at(&header, 16).ok_or_else(bad)? as u64;
        let data_offset = u32_at(&header, 20).ok_or_else(bad)? as u64;
        // struct kvm_stats_desc: u32 flags, s16 exponent, u16 size, u32 offset, u32
        // bucket_size, char name[name_size].
        let size = 16 + name_size;
        let mut descs = vec![0u8; size * num_desc];
        file.read_exact_at(&mut descs, desc_offset)?;
        let fields = descs
            .chunks_exact(size)
            .filter(|d| u16::from_le_bytes([d[6], d[7]]) == 1)
            .filter_map(|d| {
                let offset = u32_at(d, 8)? as u64;
                let name = &d[16..];
                let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
                Some((
                    String::from_utf8_lossy(name).into_owned(),
                    data_offset + offset,
                ))
            })
            .collect();
        Ok(Stats { file, fields })
    }

    /// Every one-value statistic now.
    pub fn read(&self) -> io::Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for (name, at) in &self.fields {
            let mut v = [0u8; 8];
            self.file.read_exact_at(&mut v, *at)?;
            out.insert(name.clone(), u64::from_le_bytes(v));
        }
        Ok(out)
    }
}
