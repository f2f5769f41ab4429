use pv::x86_64 as pvx;
use pv_runtime::writer::RemapWriter;
fn main() {
    println!("rdtsc {}", pvx::rdtsc());
    let mut r = pvx::CpuidRegs { eax: 0, ..Default::default() };
    unsafe { pvx::cpuid(&mut r) };
    println!("cpuid0 {:x?}", r);
    println!("save_fl {:#x}", pvx::save_fl());
    for s in pv_runtime::sites() {
        let s = s.unwrap();
        println!("site {:#x} {} {:?} len {} probe {} bytes {:02x?}", s.addr(), s.intrinsic.name, s.record.binding, s.record.len, s.record.probe, s.current());
    }
    println!("{} intrinsics", pv_runtime::intrinsics().len());
    let hv = pv_runtime::hv::Hypervisor::install().unwrap();
    let mut p = pv_runtime::Patcher::new();
    let mut w = RemapWriter::new();
    println!("{}", p.apply(pv_runtime::Target::Xen, &mut w).unwrap());
    let mut r = pvx::CpuidRegs { eax: 0x4000_0000, ..Default::default() };
    unsafe { pvx::cpuid(&mut r) };
    println!("cpuid40 {:x?}", r);
    unsafe { pvx::irq_disable() };
    println!("save_fl {:#x}", pvx::save_fl());
    unsafe { pvx::write_cr3(0x1234000); pvx::outb(0xe9, b'A'); pvx::safe_halt(); }
    println!("{:?}", pv_runtime::hv::state());
    println!("{}", p.revert(&mut w).unwrap());
    drop(hv);
}
