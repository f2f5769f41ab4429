//! Loads the guest's ELF into guest RAM and lays out what the PVH boot protocol hands a kernel:
//! the `hvm_start_info` block, its command line and a one-entry memory map.

use crate::memory::Memory;
use object::Endianness;
use object::elf;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};

/// What the loader found in the image.
#[derive(Debug, Clone, Copy)]
pub struct Image {
    /// The ELF entry (`e_entry`): pv-guest's 64-bit entry.
    pub entry64: u64,
    /// The 32-bit PVH entry from the `XEN_ELFNOTE_PHYS32_ENTRY` note, if present.
    pub pvh_entry: Option<u32>,
}

/// `XEN_ELFNOTE_PHYS32_ENTRY` (Xen `xen/include/public/elfnote.h`): the note whose descriptor
/// is the 32-bit physical PVH entry point.
const XEN_ELFNOTE_PHYS32_ENTRY: elf::NoteType = elf::NoteType(18);
/// `XEN_HVM_START_MAGIC_VALUE` (Xen `xen/include/public/arch-x86/hvm/start_info.h`).
const START_MAGIC: u32 = 0x336e_c578;
/// `XEN_HVM_MEMMAP_TYPE_RAM` (same header): E820 type 1.
const MEMMAP_RAM: u32 = 1;

/// Where the monitor puts the start-info block, the command line and the memory map: low
/// memory below the 1 MiB image, as QEMU's PVH loader does.
pub const START_INFO: u64 = 0x6000;
const CMDLINE: u64 = 0x6100;
const MEMMAP: u64 = 0x6f00;

/// Copies every `PT_LOAD` segment to its physical address (bss zeroed: RAM starts zeroed) and
/// finds the entries.
pub fn load(mem: &mut Memory, bytes: &[u8]) -> Result<Image, String> {
    let file = ElfFile64::<Endianness>::parse(bytes).map_err(|e| format!("not an ELF64: {e}"))?;
    let endian = file.endian();
    let mut pvh_entry = None;
    for ph in file
        .elf_program_headers()
        .iter()
        .filter(|ph| ph.p_type(endian) == elf::PT_NOTE || ph.p_type(endian) == elf::PT_LOAD)
    {
        if ph.p_type(endian) == elf::PT_LOAD {
            let data = ph
                .data(endian, bytes)
                .map_err(|_| "a PT_LOAD segment lies outside the file".to_string())?;
            let at = ph.p_paddr(endian);
            if ph.p_memsz(endian) > (mem.size() as u64).saturating_sub(at) {
                return Err(format!("segment at {at:#x} does not fit in guest RAM"));
            }
            mem.write(at, data)
                .ok_or_else(|| format!("segment at {at:#x} does not fit in guest RAM"))?;
            continue;
        }
        let Ok(Some(mut notes)) = ph.notes(endian, bytes) else {
            continue;
        };
        while let Ok(Some(note)) = notes.next() {
            if note.name() == b"Xen" && note.n_type(endian) == XEN_ELFNOTE_PHYS32_ENTRY {
                let desc: [u8; 4] = note
                    .desc()
                    .get(..4)
                    .and_then(|d| d.try_into().ok())
                    .ok_or("a PHYS32_ENTRY note shorter than 4 bytes")?;
                pvh_entry = Some(u32::from_le_bytes(desc));
            }
        }
    }
    Ok(Image {
        entry64: file.elf_header().e_entry(endian),
        pvh_entry,
    })
}

/// Writes `struct hvm_start_info` version 1 (Xen `start_info.h`: magic, version, flags,
/// nr_modules, modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr, memmap_entries,
/// reserved; 56 bytes) with `cmdline` and one RAM range covering guest memory.
pub fn write_start_info(mem: &mut Memory, cmdline: &str) -> Result<(), String> {
    if cmdline.len() >= (MEMMAP - CMDLINE) as usize {
        return Err("command line too long".into());
    }
    let mut line = cmdline.as_bytes().to_vec();
    line.push(0);
    let mut info = Vec::with_capacity(56);
    info.extend(START_MAGIC.to_le_bytes());
    info.extend(1u32.to_le_bytes()); // version
    info.extend(0u32.to_le_bytes()); // flags
    info.extend(0u32.to_le_bytes()); // nr_modules
    info.extend(0u64.to_le_bytes()); // modlist_paddr
    info.extend(CMDLINE.to_le_bytes());
    info.extend(0u64.to_le_bytes()); // rsdp_paddr
    info.extend(MEMMAP.to_le_bytes());
    info.extend(1u32.to_le_bytes()); // memmap_entries
    info.extend(0u32.to_le_bytes()); // reserved
    // struct hvm_memmap_table_entry: addr, size, type, reserved.
    let mut map = Vec::with_capacity(24);
    map.extend(0u64.to_le_bytes());
    map.extend((mem.size() as u64).to_le_bytes());
    map.extend(MEMMAP_RAM.to_le_bytes());
    map.extend(0u32.to_le_bytes());
    let fits = mem.write(START_INFO, &info).is_some()
        && mem.write(CMDLINE, &line).is_some()
        && mem.write(MEMMAP, &map).is_some();
    fits.then_some(())
        .ok_or_else(|| "guest RAM too small".into())
}
