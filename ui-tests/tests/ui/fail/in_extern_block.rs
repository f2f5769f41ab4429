use pv_macros::pv_intrinsic;

// A declaration in an `extern` block is a foreign function, not an intrinsic.
unsafe extern "C" {
    #[pv_intrinsic(reg = "rax", native = "mov eax, 1", xen = native)]
    fn one() -> u32;
}

fn main() {}
