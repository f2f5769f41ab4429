//! The boot path's console and exit, on raw `out` instructions (never the catalogue's `outb`),
//! so that they work before, during and after patching:
//! - console: bytes written to I/O port 0xe9, the Bochs/QEMU debug console (`-debugcon`);
//! - exit: one byte written to port 0xf4, QEMU's `isa-debug-exit` device, which ends QEMU with
//!   status `(v << 1) | 1` (QEMU `hw/misc/debugexit.c`).
//!
//! Numbers are printed by hand, in decimal or hex: `core::fmt` is not linked at all.

/// The debug console port.
pub const CONSOLE_PORT: u16 = 0xe9;
/// The exit port.
const EXIT_PORT: u16 = 0xf4;
/// Exit byte for success (QEMU status 33).
pub const SUCCESS: u8 = 0x10;
/// Exit byte for failure (QEMU status 35).
pub const FAILURE: u8 = 0x11;

/// Writes `value` to I/O port `port`.
pub fn out8(port: u16, value: u8) {
    // The guest only writes ports it owns: console, exit, the legacy PIC and PIT under QEMU.
    // SAFETY: a port write in ring 0, touching no memory.
    unsafe {
        core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack))
    };
}

/// Writes `s` to the console.
pub fn puts(s: &str) {
    for b in s.bytes() {
        out8(CONSOLE_PORT, b);
    }
}

/// Writes `v` in decimal.
pub fn dec(mut v: u64) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    while n > 0 {
        n -= 1;
        out8(CONSOLE_PORT, digits[n]);
    }
}

/// Writes `v` as `0x` and lowercase hex digits, without leading zeros.
pub fn hex(v: u64) {
    puts("0x");
    let mut started = false;
    for shift in (0..16).rev() {
        let d = (v >> (shift * 4) & 0xf) as u8;
        if d != 0 || started || shift == 0 {
            started = true;
            out8(CONSOLE_PORT, if d < 10 { b'0' + d } else { b'a' + d - 10 });
        }
    }
}

/// Ends the run with `code` (QEMU exits); where nothing ends it, halts forever.
pub fn exit(code: u8) -> ! {
    out8(EXIT_PORT, code);
    loop {
        // SAFETY: halting with interrupts off stops this CPU for good, which is the intent.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Reports `what` and exits with failure.
pub fn fail(what: &str) -> ! {
    puts("pv-guest: failed: ");
    puts(what);
    puts("\n");
    exit(FAILURE)
}
