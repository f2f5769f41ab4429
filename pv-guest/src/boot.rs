//! The two entries and the way into Rust: the PVH entry (32-bit protected mode, paging off)
//! and the 64-bit entry `pv_guest_start64`, both ending in the same state — the guest's own
//! identity page tables, GDT and stack, `.bss` zeroed — before `pv_guest_main` runs. A
//! loader may enter either; QEMU's `-kernel` and pv-vmm take the PVH entry.
//!
//! Sources:
//! - PVH boot ABI: Xen `xen/include/public/arch-x86/hvm/start_info.h` (entry in 32-bit
//!   protected mode, paging off, `cs` a flat 32-bit code segment, `ebx` = physical address of
//!   `struct hvm_start_info`, magic 0x336ec578) and `xen/include/public/elfnote.h`
//!   (`XEN_ELFNOTE_PHYS32_ENTRY` = 18, its value the 32-bit physical entry address).
//! - Long mode: Intel SDM Vol. 3A, "Initializing IA-32e Mode" (CR4.PAE, CR3, then
//!   IA32_EFER.LME, then CR0.PG; a far transfer to a code segment with L = 1 enters 64-bit
//!   mode), "4-Level Paging and 5-Level Paging" (2-MiB pages: PS in the page-directory
//!   entry), "Code-Segment Descriptor in 64-bit Mode" (L = 1, D = 0).
//! - NX: Intel SDM Vol. 2A, CPUID leaf 0x80000001 EDX bit 20; IA32_EFER.NXE is bit 11 (Vol.
//!   3A, "Extended Feature Enable Register"); setting it where NX is absent faults, so the
//!   entry tests the bit first.

use core::arch::global_asm;

/// The boot stack's size: the engine's report and plans live on it (a few KiB).
const STACK_SIZE: usize = 16 * 1024;

/// The boot stack, page-aligned.
#[repr(C, align(4096))]
pub struct Stack([u8; STACK_SIZE]);

/// The stack both entries switch to (`.noinit`: not zeroed). Only the entry code touches it
/// by name.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".noinit.pv_guest_stack")]
pub static mut PV_GUEST_STACK: Stack = Stack([0; STACK_SIZE]);

/// Which entry the loader used: 0 PVH, 1 the 64-bit entry (passed to `pv_guest_main`).
pub const ENTRY_PVH: u32 = 0;

global_asm!(
    // The PVH note: namesz, descsz, type, "Xen\0", the 32-bit entry address (elfnote.h).
    ".pushsection .note.Xen, \"a\", @note",
    ".balign 4",
    ".long 4, 4, 18",
    ".asciz \"Xen\"",
    ".balign 4",
    ".long pv_guest_pvh32",
    ".balign 4",
    ".popsection",
    //
    // The page tables: PML4[0] -> PDPT[0] -> one page directory of 512 2-MiB pages, the first
    // GiB identity-mapped, present + writable + PS (0x83). Static data, so both entries load
    // the same tables without building them.
    ".pushsection .data.pv_guest_tables, \"aw\", @progbits",
    ".balign 4096",
    ".globl pv_guest_pml4",
    "pv_guest_pml4:",
    ".quad pv_guest_pdpt + 3",
    ".fill 511, 8, 0",
    "pv_guest_pdpt:",
    ".quad pv_guest_pd + 3",
    ".fill 511, 8, 0",
    "pv_guest_pd:",
    ".set pv_guest_page, 0",
    ".rept 512",
    ".quad (pv_guest_page << 21) | 0x83",
    ".set pv_guest_page, pv_guest_page + 1",
    ".endr",
    //
    // The GDT: null, 64-bit code (selector 0x08: P, DPL 0, code, L = 1), data (0x10).
    ".balign 16",
    ".globl pv_guest_gdt",
    "pv_guest_gdt:",
    ".quad 0",
    ".quad 0x00af9a000000ffff",
    ".quad 0x00cf92000000ffff",
    "pv_guest_gdt_end:",
    // The lgdt operand: limit, then base (a 32-bit lgdt reads the low half of the base).
    ".balign 16",
    ".globl pv_guest_gdt_ptr",
    "pv_guest_gdt_ptr:",
    ".word pv_guest_gdt_end - pv_guest_gdt - 1",
    ".quad pv_guest_gdt",
    ".popsection",
    //
    ".pushsection .text.pv_guest_entry, \"ax\", @progbits",
    // The PVH entry: 32-bit protected mode, paging off, ebx = hvm_start_info.
    ".code32",
    ".globl pv_guest_pvh32",
    "pv_guest_pvh32:",
    "cli",
    "cld",
    "mov esi, ebx",
    "mov esp, offset PV_GUEST_STACK + {stack}",
    // CR4.PAE, CR3 = the tables, EFER.LME, then CR0.PG (+PE): IA-32e mode, compatibility
    // submode until the far return below loads the 64-bit code segment.
    "mov eax, cr4",
    "or eax, 0x20",
    "mov cr4, eax",
    "mov eax, offset pv_guest_pml4",
    "mov cr3, eax",
    "mov ecx, 0xc0000080",
    "rdmsr",
    "or eax, 0x100",
    "wrmsr",
    "mov eax, cr0",
    "or eax, 0x80000001",
    "mov cr0, eax",
    "lgdt [pv_guest_gdt_ptr]",
    "mov ebx, esi",
    "xor edi, edi",
    "mov eax, 0x08",
    "push eax",
    "mov eax, offset pv_guest_long64",
    "push eax",
    "retf",
    ".code64",
    //
    // The 64-bit entry: long mode, the first GiB identity-mapped, flat 64-bit cs, interrupts
    // off, rbx = hvm_start_info.
    ".globl pv_guest_start64",
    "pv_guest_start64:",
    "cli",
    "cld",
    "mov edi, 1",
    //
    // The common 64-bit path: rbx = start_info, edi = the entry. Own tables, GDT, segments,
    // stack; EFER.NXE where the CPU has NX; .bss zeroed; then Rust.
    "pv_guest_long64:",
    "mov rax, offset pv_guest_pml4",
    "mov cr3, rax",
    "lgdt [pv_guest_gdt_ptr]",
    "mov eax, 0x10",
    "mov ds, eax",
    "mov es, eax",
    "mov ss, eax",
    "xor eax, eax",
    "mov fs, eax",
    "mov gs, eax",
    "mov rsp, offset PV_GUEST_STACK + {stack}",
    "push 0x08",
    "lea rax, [rip + 2f]",
    "push rax",
    "retfq",
    "2:",
    "mov r12, rbx",
    "mov r13d, edi",
    "mov eax, 0x80000000",
    "cpuid",
    "cmp eax, 0x80000001",
    "jb 3f",
    "mov eax, 0x80000001",
    "cpuid",
    "bt edx, 20",
    "jnc 3f",
    "mov ecx, 0xc0000080",
    "rdmsr",
    "or eax, 0x800",
    "wrmsr",
    "3:",
    // Zero .bss (small: the large buffers are in .noinit, written before they are read).
    "mov rdi, offset __pv_guest_bss_start",
    "mov rcx, offset __pv_guest_bss_end",
    "sub rcx, rdi",
    "xor eax, eax",
    "rep stosb",
    "mov rsp, offset PV_GUEST_STACK + {stack}",
    "mov rdi, r12",
    "mov esi, r13d",
    "call pv_guest_main",
    "4:",
    "cli",
    "hlt",
    "jmp 4b",
    ".popsection",
    stack = const STACK_SIZE,
);
