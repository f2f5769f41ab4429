//! The `.S` file of a whole catalogue: for every ia64 declaration its routines (native, Xen,
//! option 4's C adapters), one sample call site with its record, its ops slot and descriptor
//! block, and a copy of its Xen body. Assemble with `as -x`, link with `ld --no-relax` (ld
//! otherwise turns in-range `brl` into `br`).

use super::asm::{
    Decl, HypercallArg, Symbols, XenBody, bundle, bundle_fmt, bundles, concat, desc, fragment,
};
use crate::Binding;
use core::fmt::{self, Display, Write};

/// A declaration's symbol stem: its name, made unique by its index when names repeat.
struct Stem<'a> {
    name: &'a str,
    index: Option<usize>,
}

impl Display for Stem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{}_{i}", self.name),
            None => f.write_str(self.name),
        }
    }
}

fn stem<'a>(decls: &[Decl<'a>], i: usize) -> Stem<'a> {
    let name = decls[i].name;
    let repeated = decls.iter().filter(|d| d.name == name).count() > 1;
    Stem {
        name,
        index: repeated.then_some(i),
    }
}

/// A symbol as a stack string.
fn sym(prefix: &str, stem: &Stem) -> super::asm::Buf {
    let mut b = concat(prefix, "");
    let _ = write!(b, "{stem}");
    b
}

/// Writes the whole catalogue.
pub fn write(w: &mut impl Write, decls: &[Decl]) -> fmt::Result {
    writeln!(
        w,
        "// pv: the ia64 catalogue, {} declarations. Assemble with `as -x`, link with `ld --no-relax`.",
        decls.len()
    )?;
    // The routines in a section of their own, so that the engine can refuse a site inside one.
    writeln!(
        w,
        "\t.section {},\"ax\",@progbits",
        crate::record::ROUTINES_SECTION
    )?;
    for (i, d) in decls.iter().enumerate() {
        routines(w, d, &stem(decls, i))?;
    }
    writeln!(
        w,
        "\n// One sample call site per declaration, as a kernel function would contain it."
    )?;
    writeln!(w, "\t.text")?;
    for (i, d) in decls.iter().enumerate() {
        let st = stem(decls, i);
        writeln!(
            w,
            "\n// {}::{} — option {} `{}`",
            d.module,
            d.name,
            d.binding as u8,
            d.binding.name()
        )?;
        writeln!(w, "\t.align 16\n\t.global {}", sym("pv_site_", &st))?;
        if d.binding == Binding::IndirectCall {
            caller(w, d, &st)?;
            continue;
        }
        let (site, repl) = (sym("pv_site_", &st), sym("pv_repl_", &st));
        let (site_def, repl_def) = (concat(&site, ":"), concat(&repl, ":"));
        let (native, slot, desc) = (
            sym("pv_native_", &st),
            sym("pv_slot_", &st),
            sym("pv_desc_", &st),
        );
        let symbols = Symbols {
            site: (&site_def, &site),
            repl: (&repl_def, &repl),
            native: &native,
            slot: &slot,
            desc: &desc,
        };
        d.site(w, &symbols, false)?;
    }
    writeln!(w, "\n\t.section .rodata")?;
    for (i, d) in decls.iter().enumerate() {
        writeln!(
            w,
            "{}:\tstringz \"{}\"",
            sym("pv_name_", &stem(decls, i)),
            d.name
        )?;
    }
    writeln!(
        w,
        "\n// The ops table: one slot per declaration, then the descriptor blocks."
    )?;
    writeln!(w, "\t.data\n\t.align 8")?;
    writeln!(
        w,
        ".pushsection {},\"aw\"\n\t.align 8",
        crate::record::SLOTS_SECTION
    )?;
    writeln!(w, "\t.global pv_ops_table\npv_ops_table:")?;
    for i in 0..decls.len() {
        let st = stem(decls, i);
        writeln!(
            w,
            "{}:\tdata8 {}",
            sym("pv_slot_", &st),
            entry(&decls[i], &st, false)
        )?;
    }
    writeln!(w, ".popsection")?;
    writeln!(
        w,
        "\n// Function descriptors {{entry, gp}} of option 3's routines in Linux's form: its slots hold their addresses."
    )?;
    for (i, d) in decls.iter().enumerate().filter(|(_, d)| d.linux_form()) {
        let st = stem(decls, i);
        writeln!(
            w,
            "{}:\tdata8 {}, __gp",
            sym("pv_fdesc_native_", &st),
            sym("pv_native_", &st)
        )?;
        if !matches!(d.xen, XenBody::Native) {
            writeln!(
                w,
                "{}:\tdata8 {}, __gp",
                sym("pv_fdesc_xen_", &st),
                sym("pv_xen_", &st)
            )?;
        }
    }
    writeln!(
        w,
        ".pushsection {},\"aw\"",
        crate::record::INTRINSICS_SECTION
    )?;
    for (i, d) in decls.iter().enumerate() {
        descriptor(w, d, &stem(decls, i))?;
    }
    writeln!(w, ".popsection")?;
    // gas emits a bundle lazily and flushes it when the section switch returns to code, not to
    // data: a label after an unflushed bundle would take the pending bundle's address.
    writeln!(
        w,
        "\n// Xen bodies, copied into sites; each pushed from .text so gas emits it before the next label."
    )?;
    writeln!(w, "\t.text")?;
    for (i, d) in decls.iter().enumerate() {
        if matches!(d.xen, XenBody::Asm(_) | XenBody::Hyperprivop(_)) {
            writeln!(
                w,
                ".pushsection {},\"aR\"",
                crate::record::XEN_BODIES_SECTION
            )?;
            writeln!(w, "\t.align 16\n{}:", sym("pv_xenbody_", &stem(decls, i)))?;
            fragment(w)?;
            d.xen_text(w).unwrap_or(Ok(()))?;
            writeln!(w, ".popsection")?;
        }
    }
    Ok(())
}

/// The routine a slot or descriptor names: an entry for options 1-3 in the seed's form, the
/// function descriptor of the routine for option 3 in Linux's form (emitted by [`write`] in
/// `.data`, as Linux's `pv_cpu_ops` members are C function pointers), the linker's function
/// descriptor of the C adapter for option 4.
fn entry(d: &Decl, st: &Stem, xen: bool) -> super::asm::Buf {
    let runs_native = !xen || matches!(d.xen, XenBody::Native);
    let routine = match (d.binding, runs_native) {
        (Binding::IndirectCall, true) => sym("pv_native_c_", st),
        (Binding::IndirectCall, false) => sym("pv_xen_c_", st),
        (_, true) if d.linux_form() => sym("pv_fdesc_native_", st),
        (_, false) if d.linux_form() => sym("pv_fdesc_xen_", st),
        (_, true) => sym("pv_native_", st),
        (_, false) => sym("pv_xen_", st),
    };
    if d.binding == Binding::IndirectCall {
        concat("@fptr(", &concat(&routine, ")"))
    } else {
        routine
    }
}

fn proc_start(w: &mut impl Write, name: &str) -> fmt::Result {
    writeln!(w, "\t.align 16\n\t.global {name}\n\t.proc {name}\n{name}:")?;
    fragment(w)
}

fn proc_end(w: &mut impl Write, name: &str) -> fmt::Result {
    writeln!(w, "\t.endp {name}")
}

fn routines(w: &mut impl Write, d: &Decl, st: &Stem) -> fmt::Result {
    writeln!(w, "\n// {}::{}", d.module, d.name)?;
    let native = sym("pv_native_", st);
    proc_start(w, &native)?;
    bundles(w, d.native)?;
    bundle(w, d.ret())?;
    proc_end(w, &native)?;
    let xen = sym("pv_xen_", st);
    match d.xen {
        XenBody::Native => {}
        XenBody::Call(path) => {
            proc_start(w, &xen)?;
            thunk(w, d, path.rsplit("::").next().unwrap_or(path))?;
            proc_end(w, &xen)?;
        }
        XenBody::Hypercall(nr, args) => {
            proc_start(w, &xen)?;
            hypercall(w, d, nr, args)?;
            proc_end(w, &xen)?;
        }
        _ => {
            proc_start(w, &xen)?;
            d.xen_text(w).unwrap_or(Ok(()))?;
            bundle(w, d.ret())?;
            proc_end(w, &xen)?;
        }
    }
    if d.binding == Binding::IndirectCall {
        adapter(w, d, &sym("pv_native_c_", st), &native)?;
        if !matches!(d.xen, XenBody::Native) {
            adapter(w, d, &sym("pv_xen_c_", st), &xen)?;
        }
    }
    Ok(())
}

/// General registers a C callee may clobber (mask bits = register numbers).
const C_SCRATCH_GR: [u8; 24] = [
    2, 3, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
];

/// What a call out of pv's contract clobbers besides [`C_SCRATCH_GR`], as (mask bit, name);
/// `pr` stands for p6-p15.
struct Clobbered(&'static [(u8, &'static str)]);

/// A C callee: the software conventions' scratch registers.
const C_CALL: Clobbered = Clobbered(&[(38, "b6"), (39, "b7"), (56, "ar.ccv"), (46, "pr")]);

/// A Xen/ia64 hypercall: the Xen build of `ia64_leave_syscall` (xen/arch/ia64/linux-xen/entry.S,
/// its `#ifdef XEN` lines) returns the number in r2 and the result in r8, zeroes r10, r14, r15,
/// b7 and ar.ccv, leaves r3, r9 and bank 1's r16-r31 changed, and restores r11, pr, b0 and b6:
/// within the scratch general registers, b7 and ar.ccv.
const HYPERCALL: Clobbered = Clobbered(&[(39, "b7"), (56, "ar.ccv")]);

/// The registers a routine saves around a call: at most the scratch registers.
struct Saves {
    list: [(u8, &'static str); 32],
    len: usize,
}

impl Saves {
    fn as_slice(&self) -> &[(u8, &'static str)] {
        &self.list[..self.len]
    }
}

/// The registers a routine must save around a call that clobbers the scratch general
/// registers and `c`: those the contract keeps, as (mask bit, how to name it).
fn saves(d: &Decl, c: &Clobbered) -> Saves {
    let declared = d.clobbers | d.carrier.map_or(0, |b| 1 << b);
    let keep = |bit: u8| declared & 1 << bit == 0;
    let mut s = Saves {
        list: [(0, ""); 32],
        len: 0,
    };
    let gr = C_SCRATCH_GR.iter().map(|g| (*g, "r"));
    for (bit, name) in gr.chain(c.0.iter().copied()) {
        // `pr` covers p6-p15 (bits 46-55): saved if the contract keeps any of them.
        let kept = match name {
            "pr" => (46..=55).any(keep),
            _ => keep(bit),
        };
        if kept {
            s.list[s.len] = (bit, name);
            s.len += 1;
        }
    }
    s
}

/// Copies each saved register into the local `first + i`.
fn save(w: &mut impl Write, saves: &[(u8, &str)], first: usize) -> fmt::Result {
    for (i, (bit, kind)) in saves.iter().enumerate() {
        match *kind {
            "r" => bundle_fmt(w, format_args!("mov r{}=r{bit}", first + i))?,
            other => bundle_fmt(w, format_args!("mov r{}={other}", first + i))?,
        }
    }
    Ok(())
}

/// Writes each saved register back from the local `first + i`.
fn restore(w: &mut impl Write, saves: &[(u8, &str)], first: usize) -> fmt::Result {
    for (i, (bit, kind)) in saves.iter().enumerate() {
        match *kind {
            "r" => bundle_fmt(w, format_args!("mov r{bit}=r{}", first + i))?,
            "pr" => bundle_fmt(w, format_args!("mov pr=r{},-1", first + i))?,
            other => bundle_fmt(w, format_args!("mov {other}=r{}", first + i))?,
        }
    }
    Ok(())
}

/// The Xen routine that calls a C function: a frame of its own, every scratch register the
/// contract preserves saved in a local, arguments in the output registers.
fn thunk(w: &mut impl Write, d: &Decl, function: &str) -> fmt::Result {
    let saves = saves(d, &C_CALL);
    let saves = saves.as_slice();
    let locals = 2 + saves.len();
    bundle_fmt(
        w,
        format_args!("alloc r32=ar.pfs,0,{locals},{},0", d.args.len().max(1)),
    )?;
    bundle(w, "mov r33=b0")?;
    save(w, saves, 34)?;
    for (i, a) in d.args.iter().enumerate() {
        bundle_fmt(w, format_args!("mov r{}=r{a}", 32 + locals + i))?;
    }
    bundle_fmt(w, format_args!("br.call.sptk.many b0={function}"))?;
    if let Some(c) = d.carrier.filter(|c| *c != 8) {
        bundle_fmt(w, format_args!("mov r{c}=r8"))?;
    }
    restore(w, saves, 34)?;
    bundle(w, "mov b0=r33")?;
    bundle(w, "mov ar.pfs=r32")?;
    bundle(w, "br.ret.sptk.many b0")
}

/// The Xen routine that makes a hypercall. Xen reads the arguments as the handler's in0-in4,
/// which are the **output** registers of the frame executing `break` (its `break_fault` →
/// `ia64_syscall_setup` enters a new frame with `br.call` and `alloc r19=ar.pfs,8,0,0,0`;
/// xen/arch/ia64/xen/ivt.S): so the routine's frame has locals (ar.pfs and the registers the
/// hypercall clobbers but the contract keeps) and the arguments in its outputs, as Linux's
/// `__hypercall` (no frame of its own) has them in the caller's outputs. Number in r2, result
/// in r8.
fn hypercall(w: &mut impl Write, d: &Decl, nr: u32, args: &[HypercallArg]) -> fmt::Result {
    let saves = saves(d, &HYPERCALL);
    let saves = saves.as_slice();
    let locals = 1 + saves.len();
    bundle_fmt(
        w,
        format_args!("alloc r32=ar.pfs,0,{locals},{},0", args.len().max(1)),
    )?;
    save(w, saves, 33)?;
    for (i, a) in args.iter().enumerate() {
        let out = 32 + locals + i;
        match a {
            HypercallArg::Reg(bit) => bundle_fmt(w, format_args!("mov r{out}=r{bit}"))?,
            HypercallArg::Const(v) => bundle_fmt(w, format_args!("movl r{out}={v:#x}"))?,
        }
    }
    bundle_fmt(w, format_args!("movl r2={nr:#x}"))?;
    bundle(w, "break.m 0x1000")?;
    if let Some(c) = d.carrier.filter(|c| *c != 8) {
        bundle_fmt(w, format_args!("mov r{c}=r8"))?;
    }
    restore(w, saves, 33)?;
    bundle(w, "mov ar.pfs=r32")?;
    bundle(w, "br.ret.sptk.many b0")
}

/// A C-ABI adapter (option 4): C arguments to the contract registers, a call of the contract
/// routine, the result to r8.
fn adapter(w: &mut impl Write, d: &Decl, name: &str, routine: &str) -> fmt::Result {
    proc_start(w, name)?;
    let ins = d.args.len();
    bundle_fmt(w, format_args!("alloc r{}=ar.pfs,{ins},2,0,0", 32 + ins))?;
    bundle_fmt(w, format_args!("mov r{}=b0", 33 + ins))?;
    for (i, a) in d.args.iter().enumerate() {
        bundle_fmt(w, format_args!("mov r{a}=r{}", 32 + i))?;
    }
    bundle_fmt(w, format_args!("br.call.sptk.many b0={routine}"))?;
    if let Some(c) = d.carrier.filter(|c| *c != 8) {
        bundle_fmt(w, format_args!("mov r8=r{c}"))?;
    }
    bundle_fmt(w, format_args!("mov b0=r{}", 33 + ins))?;
    bundle_fmt(w, format_args!("mov ar.pfs=r{}", 32 + ins))?;
    bundle(w, "br.ret.sptk.many b0")?;
    proc_end(w, name)
}

/// A sample option 4 caller, as a C compiler writes a kernel function `u64 f(u64 x) { return
/// intrinsic(x); }`: a frame (in0; ar.pfs, b0 and gp in locals; one output), the indirect call
/// through the slot's function descriptor (entry and the callee's gp), then gp restored — the
/// callee's gp is not the caller's in general — b0 and ar.pfs back, and return.
fn caller(w: &mut impl Write, d: &Decl, st: &Stem) -> fmt::Result {
    let site = sym("pv_site_", st);
    writeln!(w, "\t.proc {site}")?;
    fragment(w)?;
    writeln!(w, "{site}:")?;
    let ins = d.args.len();
    let (pfs, b0, gp) = (32 + ins, 33 + ins, 34 + ins);
    bundle_fmt(w, format_args!("alloc r{pfs}=ar.pfs,{ins},3,{ins},0"))?;
    bundle_fmt(w, format_args!("mov r{b0}=b0"))?;
    bundle_fmt(w, format_args!("mov r{gp}=r1"))?;
    for i in 0..ins {
        bundle_fmt(w, format_args!("mov r{}=r{}", 35 + ins + i, 32 + i))?;
    }
    bundle(w, &concat("movl r2=", &sym("pv_slot_", st)))?;
    for insn in [
        "ld8 r2=[r2]",
        "ld8 r3=[r2],8",
        "ld8 r1=[r2]",
        "mov b6=r3",
        "br.call.sptk.many b0=b6",
    ] {
        bundle(w, insn)?;
    }
    bundle_fmt(w, format_args!("mov r1=r{gp}"))?;
    bundle_fmt(w, format_args!("mov b0=r{b0}"))?;
    bundle_fmt(w, format_args!("mov ar.pfs=r{pfs}"))?;
    bundle(w, "br.ret.sptk.many b0")?;
    writeln!(w, "\t.endp {site}")
}

fn descriptor(w: &mut impl Write, d: &Decl, st: &Stem) -> fmt::Result {
    writeln!(w, "\t.align 8\n{}:", sym("pv_desc_", st))?;
    writeln!(w, "\tdata8 {}", entry(d, st, false))?;
    writeln!(w, "\tdata8 {}", entry(d, st, true))?;
    writeln!(w, "\tdata8 {}", sym("pv_slot_", st))?;
    let body = matches!(d.xen, XenBody::Asm(_) | XenBody::Hyperprivop(_));
    if body {
        writeln!(w, "\tdata8 {}", sym("pv_xenbody_", st))?
    } else {
        writeln!(w, "\tdata8 0")?
    }
    let len = if body { d.xen_size().unwrap_or(0) } else { 0 };
    writeln!(w, "\tdata4 {len}, {}", d.xen_kind() as u8)?;
    writeln!(w, "\tdata8 {}", sym("pv_name_", st))?;
    writeln!(
        w,
        "\tdata1 {}, {}, 0, 0, 0, 0, 0, 0",
        d.binding as u8,
        d.linux_form() as u8
    )?;
    debug_assert_eq!(desc::SIZE, 56);
    Ok(())
}
