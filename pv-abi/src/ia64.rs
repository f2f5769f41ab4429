//! The ia64 register names pv recognises, so that ia64 declarations parse into the model and
//! the architecture can be inferred from register names. The full ABI table (classes, scratch
//! and preserved sets, per-binding clobbers) comes with the ia64 backend.

/// pv argument order on ia64: argument 0 and the result in r8, then r9, r10, r11, r14 — the
/// registers Xen hyperprivops take their operands in.
pub const PV_ARG_ORDER: [&str; 5] = ["r8", "r9", "r10", "r11", "r14"];

/// Application registers by name (the subset Linux's ia64 pv_ops touched).
pub const APP_REGS: [&str; 14] = [
    "ar.ccv",
    "ar.pfs",
    "ar.unat",
    "ar.rsc",
    "ar.bsp",
    "ar.bspstore",
    "ar.rnat",
    "ar.fpsr",
    "ar.itc",
    "ar.lc",
    "ar.ec",
    "ar.k0",
    "ar.k1",
    "ar.eflag",
];

/// Whether `name` is an ia64 register: r0-r127, b0-b7, p0-p63 or a known application register.
pub fn is_reg(name: &str) -> bool {
    let numbered = |prefix: char, max: u32| {
        name.strip_prefix(prefix)
            .filter(|n| !n.is_empty() && (n == &"0" || !n.starts_with('0')))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n <= max)
    };
    numbered('r', 127) || numbered('b', 7) || numbered('p', 63) || APP_REGS.contains(&name)
}
