use pv_macros::pv_intrinsic;

// An intrinsic is a free function: not a trait method.
trait Cpu {
    #[pv_intrinsic(reg = "rax", native = "mov eax, 1", xen = native)]
    fn one() -> u32;
}

fn main() {}
