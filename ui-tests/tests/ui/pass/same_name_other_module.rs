// Names are per module, like any Rust item: the descriptors keep the module path.
mod a {
    use pv_macros::pv_intrinsic;
    #[pv_intrinsic(reg = "rax", native = "mov eax, 1", xen = native)]
    pub fn which() -> u64;
}
mod b {
    use pv_macros::pv_intrinsic;
    #[pv_intrinsic(reg = "rax", native = "mov eax, 2", xen = native)]
    pub fn which() -> u64;
}

fn main() {
    assert_eq!((a::which(), b::which()), (1, 2));
    let modules: Vec<&str> = pv_runtime::intrinsics().iter().filter(|i| i.name == "which").map(|i| i.module).collect();
    assert_eq!(modules.len(), 2);
    assert!(modules.iter().any(|m| m.ends_with("::a")) && modules.iter().any(|m| m.ends_with("::b")));
}
