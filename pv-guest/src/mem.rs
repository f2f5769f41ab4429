//! The memory functions the compiler calls (`memcpy`, `memset`, `memmove`, `memcmp`, `bcmp`):
//! nothing else provides them in a freestanding link. Each is one string instruction (Intel
//! SDM Vol. 2B, MOVS/STOS/CMPS with a REP prefix), so the compiler cannot turn a byte loop
//! back into a call of the function itself, and the guest stays small in instructions.

/// Copies `n` bytes forward (as `rep movsb` does, also for overlapping `dst < src`).
///
/// # Safety
/// The C contract: both ranges valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // The direction flag is clear: the entry clears it and only `memmove` sets it, briefly.
    // SAFETY: the caller's contract.
    unsafe {
        core::arch::asm!("rep movsb", inout("rdi") dst => _, inout("rsi") src => _,
            inout("rcx") n => _, options(nostack, preserves_flags))
    };
    dst
}

/// Copies `n` bytes between possibly overlapping ranges.
///
/// # Safety
/// The C contract: both ranges valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: a forward copy never reads a byte it already wrote here.
        return unsafe { memcpy(dst, src, n) };
    }
    // SAFETY: the caller's contract; backwards from the last byte, then the flag cleared again.
    unsafe {
        core::arch::asm!("std", "rep movsb", "cld",
            inout("rdi") dst.wrapping_add(n - 1) => _, inout("rsi") src.wrapping_add(n - 1) => _,
            inout("rcx") n => _, options(nostack))
    };
    dst
}

/// Fills `n` bytes with `c`.
///
/// # Safety
/// The C contract: the range valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; the direction flag is clear.
    unsafe {
        core::arch::asm!("rep stosb", inout("rdi") dst => _, inout("rcx") n => _,
            in("al") c as u8, options(nostack, preserves_flags))
    };
    dst
}

/// Compares `n` bytes: 0 if equal, else the difference of the first differing bytes.
///
/// # Safety
/// The C contract: both ranges valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n == 0 {
        return 0;
    }
    let left: usize;
    // `repe cmpsb` stops after the first differing byte, rcx counting the bytes not compared.
    // SAFETY: the caller's contract.
    unsafe {
        core::arch::asm!("repe cmpsb", inout("rsi") a => _, inout("rdi") b => _,
            inout("rcx") n => left, options(nostack, readonly))
    };
    let (equal_so_far, at) = (left == 0, n - left - 1);
    // SAFETY: `at < n`: the last byte compared.
    let (x, y) = unsafe { (*a.add(at), *b.add(at)) };
    if equal_so_far && x == y {
        0
    } else {
        i32::from(x) - i32::from(y)
    }
}

/// `memcmp` where only equality matters.
///
/// # Safety
/// The C contract: both ranges valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { memcmp(a, b, n) }
}
