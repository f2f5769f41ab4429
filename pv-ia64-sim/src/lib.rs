//! A test oracle for pv's ia64 code: an interpreter for exactly the ia64 subset pv emits,
//! running a linked ELF image on bare metal or on Xen/ia64.
//!
//! No ia64 emulator can be installed, and GNU binutils prove only that bundles encode what pv
//! meant, not that what pv meant is right. This interpreter is written from the Itanium
//! Architecture Software Developer's Manual (decoder: vol. 3 ch. 4; semantics: vol. 3 ch. 2;
//! register stack: vol. 2 ch. 6) and its Xen model from Xen's and Linux's sources, sharing
//! nothing with pv's encoder or register tables; its decoder is compared with GNU objdump on
//! every bundle of the linked catalogue. Anything outside the subset stops the run with the
//! bundle's address and bytes: nothing is skipped or guessed.
//!
//! - [`bundle`]: templates and slots; [`insn`]: the decoder (and objdump's spelling);
//! - [`access`]: what each instruction reads and writes (also `pv-sites --check`'s table);
//! - [`cpu`]: registers and the register stack; [`mem`]: sparse memory;
//! - [`exec`]: the interpreter and its dependency check; [`elf`]: loading an image;
//! - [`platform`]: bare metal and Xen/ia64.

pub mod access;
pub mod bundle;
pub mod cpu;
pub mod elf;
pub mod exec;
pub mod insn;
pub mod mem;
pub mod platform;

pub use cpu::{Cpu, Reg};
pub use exec::{Machine, SENTINEL, Stop};
