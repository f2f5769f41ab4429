use pv_macros::pv_intrinsic;

#[repr(transparent)]
#[derive(Clone, Copy)]
struct Port(u16);

#[pv_intrinsic(reg = "rdx", clobber = [rax], native = "in al, dx", xen = nop)]
unsafe fn inb(port: Port);

fn main() {}
