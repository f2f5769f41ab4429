//! Late-loaded modules: shared objects `dlopen`ed after the main program was patched, whose own
//! sites the main program's engine patches to the target it last committed, and restores before
//! they are unloaded — what Linux does for a module in `module_finalize`
//! (`arch/x86/kernel/module.c`), which runs `apply_paravirt` over the module's
//! `.parainstructions` once `load_module` (`kernel/module/main.c`) has relocated it.
//!
//! A module links its own copy of this runtime, so the linker's `__start_pv_sites`/… bounds in
//! that copy are the module's own tables: the module exports them through one `extern "C"`
//! function, [`TABLES_SYMBOL`], that returns [`Tables::own`]. The main program reads them, finds
//! the object that holds them (its segments bound every read), refuses the whole module if any
//! record has a version this runtime does not know, and otherwise runs one transition of the
//! module's image to the current target.
//!
//! The module's copy of the runtime is only a source of tables: its runtime *state* (the Xen
//! hypercall page, `vcpu_info`, the cr shadows, the test hypervisor) is a second, unused copy
//! that the main program never initialises. So a module may declare and call only intrinsics
//! whose bodies reach no runtime state in any target — native, `asm`, `nop` bodies and `call`
//! bodies of the module's own that touch nothing of pv's — while a trap (an emulated
//! instruction) reaches the main program's handler, since signal handlers are per process.
//! README, "Modules", says why and what a kernel does instead.
//!
//! With feature `std`, the registry keeps the target of the last committed transition of the
//! main image and the loaded modules: [`apply`] and [`revert`] switch the main image and then
//! every module, one transition per image, in load order.

use crate::engine::Span;

/// The symbol a module exports: `extern "C" fn() -> Tables`.
pub const TABLES_SYMBOL: &core::ffi::CStr = c"pv_module_tables";

/// The version of [`Tables`]' layout: a module built against another layout is refused.
pub const TABLES_VERSION: u32 = 1;

/// A module's pv tables, as its exported [`TABLES_SYMBOL`] returns them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Tables {
    /// [`TABLES_VERSION`] of the runtime the module was built with.
    pub version: u32,
    /// Sites, native body copies, descriptors, slots, alternatives, routines (the order of
    /// [`crate::engine::live::linked_tables`]).
    pub spans: [Span; 6],
}

impl Tables {
    /// The tables of the object this copy of the runtime is linked into: what a module's
    /// [`TABLES_SYMBOL`] returns.
    pub fn own() -> Tables {
        Tables {
            version: TABLES_VERSION,
            spans: crate::engine::live::linked_tables(),
        }
    }
}

#[cfg(feature = "std")]
pub use registry::*;

#[cfg(feature = "std")]
mod registry {
    use super::{TABLES_SYMBOL, TABLES_VERSION, Tables};
    use crate::engine::live::{Segments, segments_of};
    use crate::engine::{Failure, Guest, Image, Patcher, Section, State, Target};
    use crate::report::Report;
    use crate::site::{self, RecordError};
    use crate::writer::{Quiesced, RemapWriter};
    use crate::{BodyKind, Hypervisor};
    use crate::{Live, Sections};
    use std::boxed::Box;
    use std::ffi::{CStr, CString, c_void};
    use std::path::Path;
    use std::string::{String, ToString};
    use std::sync::{Mutex, MutexGuard};
    use std::vec::Vec;

    /// What the registry patches for: a target without a backend of the user's, whose routines
    /// the registry could not keep for later modules (a `&dyn Backend` is not `Send`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Current {
        Original,
        Native,
        Guest(Guest),
    }

    impl Current {
        fn state(self) -> State<'static> {
            match self {
                Current::Original => State::Original,
                Current::Native => State::Patched(Target::Native),
                Current::Guest(g) => State::Patched(Target::Hypervisor(g)),
            }
        }
    }

    struct Entry {
        id: u64,
        path: String,
        sections: Sections,
    }

    struct Registry {
        current: Current,
        modules: Vec<Entry>,
        next: u64,
    }

    static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
        current: Current::Original,
        modules: Vec::new(),
        next: 0,
    });

    fn registry() -> MutexGuard<'static, Registry> {
        REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why the registry did nothing, or not everything.
    #[derive(Debug)]
    pub enum Error {
        /// `dlopen` failed, with `dlerror`'s message.
        Open(String),
        /// The object exports no [`TABLES_SYMBOL`]: it is not a pv module.
        NoTables(String),
        /// The module's [`Tables`] have another layout version than this runtime's.
        TablesVersion(u32),
        /// The tables the module returned do not lie in the module itself (for example the
        /// main program's, which is registered already).
        NotTheModules,
        /// A record of the module has a version this runtime does not know: the whole module is
        /// refused, nothing of it written.
        RecordVersion {
            /// The record's address.
            at: u64,
            /// Its version byte.
            version: u8,
        },
        /// An intrinsic of the module makes a hypercall through a hypercall page under some
        /// backend: the page would be the module's own copy, which no hypervisor fills (README,
        /// "Modules"), so the module is refused whole rather than left to fault on a later
        /// switch.
        HypercallPage {
            /// The intrinsic's name.
            intrinsic: String,
            /// The backend whose body calls the page.
            hypervisor: Hypervisor,
        },
        /// A user [`Backend`](crate::Backend) target: the registry cannot keep it for modules
        /// loaded later.
        Backend,
        /// A transition did not commit (the writer failed, or another transition was under way):
        /// the image it concerned, and the failure's report.
        Transition(String, String),
    }

    impl core::fmt::Display for Error {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                Error::Open(e) => write!(f, "dlopen failed: {e}"),
                Error::NoTables(e) => write!(
                    f,
                    "not a pv module: it exports no {}: {e}",
                    TABLES_SYMBOL.to_string_lossy()
                ),
                Error::TablesVersion(v) => write!(
                    f,
                    "module tables of layout version {v}, this runtime reads {TABLES_VERSION}"
                ),
                Error::NotTheModules => {
                    f.write_str("the tables the module exports do not lie in the module")
                }
                Error::RecordVersion { at, version } => write!(
                    f,
                    "module refused whole: record at {at:#x}: {}",
                    RecordError::Version(*version)
                ),
                Error::HypercallPage {
                    intrinsic,
                    hypervisor,
                } => write!(
                    f,
                    "module refused whole: `{intrinsic}` makes a {} hypercall through a hypercall \
                     page, and a module's page is its own copy, which no hypervisor fills",
                    hypervisor.name()
                ),
                Error::Backend => f.write_str(
                    "a backend of the user's cannot be the registry's target: modules loaded later \
                     would need it",
                ),
                Error::Transition(image, e) => write!(f, "{image}: {e}"),
            }
        }
    }

    impl std::error::Error for Error {}

    /// One image's transition in a switch.
    #[derive(Clone, Debug)]
    pub struct ImageReport {
        /// `main`, or the module's path.
        pub image: String,
        /// What the transition did.
        pub report: Report,
        /// Why it did not commit, if it did not (the image was left as it was).
        pub error: Option<String>,
    }

    /// A loaded module, registered until [`unregister`]. Dropping it leaves the module loaded
    /// (and registered, if it was): only [`close`] closes it.
    #[derive(Debug)]
    pub struct Module {
        id: u64,
        registered: bool,
        path: String,
        handle: usize,
        base: u64,
        sections: Sections,
    }

    impl Module {
        /// The module's path, as loaded.
        pub fn path(&self) -> &str {
            &self.path
        }

        /// Where the loader placed the module (`dlpi_addr`): an address in the file is this
        /// much lower.
        pub fn base(&self) -> u64 {
            self.base
        }

        /// The module as an image: its tables and segments, for listing its sites.
        pub fn image(&self) -> &Sections {
            &self.sections
        }

        /// Whether the registry switches the module with the main image.
        pub fn registered(&self) -> bool {
            self.registered
        }

        /// The address of the module's exported symbol `name`, from `dlsym`.
        pub fn symbol(&self, name: &CStr) -> Option<*const c_void> {
            // SAFETY: `handle` is the module's `dlopen` handle, open until `close`.
            let p = unsafe { libc::dlsym(self.handle as *mut c_void, name.as_ptr()) };
            (!p.is_null()).then_some(p as *const c_void)
        }
    }

    fn dlerror() -> String {
        // SAFETY: `dlerror` returns null or a C string valid until the next dl call.
        let e = unsafe { libc::dlerror() };
        if e.is_null() {
            "no error reported".into()
        } else {
            // SAFETY: non-null, as checked.
            unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
        }
    }

    /// A transition that did not commit: its report, and why (the failure's message); boxed,
    /// as a report is large.
    type Failed = Box<(Report, String)>;

    fn failure(image: &str, failed: Failed) -> Error {
        Error::Transition(image.into(), failed.1)
    }

    /// Runs one transition of the image `sections` describe to `to`.
    ///
    /// # Safety
    /// As for [`Patcher::apply`].
    unsafe fn transition(sections: Sections, to: Current) -> Result<Report, Failed> {
        // Quiesced: the other threads are parked outside the changing bytes at each commit.
        // SAFETY: the sections are this process's own (main program or a loaded module).
        let mut image = Live::with_sections(sections, unsafe { Quiesced::new(RemapWriter::new()) });
        let mut patcher = Patcher::new();
        // SAFETY: the caller's promise.
        unsafe {
            match to.state() {
                State::Original => patcher.revert(&mut image),
                State::Patched(t) => patcher.apply(&mut image, t),
            }
        }
        .map_err(|f: Failure<_>| {
            let why = f.to_string();
            Box::new((f.report, why))
        })
    }

    /// Switches the main image, then every registered module in load order, to `to`: one
    /// transition per image. The registry's target changes only if the main image's
    /// transition commits; a module whose transition fails keeps its state (its report says
    /// so) and is moved by the next switch, since a site's state is read from its bytes.
    ///
    /// Each transition commits through [`Quiesced`]: other threads may keep running the sites
    /// (they are parked outside the changing bytes while each commit lands).
    ///
    /// # Safety
    /// As for [`Patcher::apply`], for the main program and every module, except that other
    /// threads may run their sites: a thread that calls through a slot while it switches
    /// reaches the old or the new routine, so both must be correct for that moment.
    pub unsafe fn apply(to: Target<'static>) -> Result<Vec<ImageReport>, Error> {
        let to = match to {
            Target::Native => Current::Native,
            Target::Hypervisor(g) => Current::Guest(g),
            Target::Backend(_) => return Err(Error::Backend),
        };
        // SAFETY: the caller's promise.
        unsafe { switch(to) }
    }

    /// Restores the main image and every module to their original bytes (see [`apply`]).
    ///
    /// # Safety
    /// As for [`apply`].
    pub unsafe fn revert() -> Result<Vec<ImageReport>, Error> {
        // SAFETY: the caller's promise.
        unsafe { switch(Current::Original) }
    }

    /// # Safety
    /// As for [`apply`].
    unsafe fn switch(to: Current) -> Result<Vec<ImageReport>, Error> {
        let mut registry = registry();
        let this = Sections::this_binary();
        // SAFETY: the caller's promise.
        let main = unsafe { transition(this, to) }.map_err(|f| failure("main", f))?;
        registry.current = to;
        let mut reports = std::vec![ImageReport {
            image: "main".into(),
            report: main,
            error: None,
        }];
        for m in &registry.modules {
            // SAFETY: the caller's promise covers every module.
            let (report, error) = match unsafe { transition(m.sections, to) } {
                Ok(r) => (r, None),
                Err(failed) => (failed.0, Some(failed.1)),
            };
            reports.push(ImageReport {
                image: m.path.clone(),
                report,
                error,
            });
        }
        Ok(reports)
    }

    /// The name of the state the main image was last committed to through the registry
    /// (`original` until the first switch): what a module loaded now is patched to.
    pub fn current() -> String {
        registry().current.state().name().to_string()
    }

    /// The paths of the registered modules, in load order.
    pub fn loaded() -> Vec<String> {
        registry().modules.iter().map(|m| m.path.clone()).collect()
    }

    /// The first record of `image` whose version this runtime does not know: its address and
    /// version.
    fn unknown_version(image: &Sections) -> Option<(u64, u8)> {
        site::records(image).find_map(|r| match r {
            Err((at, RecordError::Version(v))) => Some((at, v)),
            _ => None,
        })
    }

    /// The first intrinsic of `image` whose body under some backend is a hypercall made
    /// through that hypervisor's page (Xen's, Hyper-V's; KVM's `vmcall` needs none), and that
    /// backend. Descriptors that cannot be read are left to the engine, which refuses their
    /// sites.
    fn paged_hypercall(image: &Sections) -> Option<(String, Hypervisor)> {
        let section = image.section(Section::Intrinsics);
        let size = core::mem::size_of::<crate::Intrinsic>() as u64;
        (0..section.len / size).find_map(|i| {
            let d = crate::engine::descriptor(image, section.start + i * size).ok()?;
            [Hypervisor::Xen, Hypervisor::HyperV]
                .into_iter()
                .find(|h| d.kinds[h.index()] == BodyKind::Hypercall)
                .map(|h| (d.name(image).to_string(), h))
        })
    }

    /// Loads the shared object at `path` (`dlopen`, `RTLD_NOW | RTLD_LOCAL`), reads the tables
    /// it exports, refuses it whole — and closes it again — if any record has a version this
    /// runtime does not know or any intrinsic makes a hypercall through a page, and otherwise
    /// registers it and patches its sites and slots to the registry's current target at once.
    /// The report is that transition's.
    ///
    /// # Safety
    /// Loading runs the object's initialisers; the object's [`TABLES_SYMBOL`] is an
    /// `extern "C" fn() -> Tables` returning its own tables; nothing runs the module's code
    /// until this returns.
    pub unsafe fn load(path: &Path) -> Result<(Module, Report), Error> {
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Open("the path holds a NUL byte".into()))?;
        // SAFETY: a valid C string; the caller accepts the object's initialisers.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(Error::Open(dlerror()));
        }
        let close = |e: Error| {
            // SAFETY: the handle `dlopen` returned, closed once, nothing of it kept.
            unsafe { libc::dlclose(handle) };
            e
        };
        let mut registry = registry();
        // SAFETY: the module is open; the caller promises the symbol's type.
        let (module, sections) = match unsafe { open(handle, path) } {
            Ok(found) => found,
            Err(e) => return Err(close(e)),
        };
        if let Some((at, version)) = unknown_version(&sections) {
            return Err(close(Error::RecordVersion { at, version }));
        }
        if let Some((intrinsic, hypervisor)) = paged_hypercall(&sections) {
            return Err(close(Error::HypercallPage {
                intrinsic,
                hypervisor,
            }));
        }
        // SAFETY: the caller promises nothing runs the module's code yet.
        match unsafe { transition(sections, registry.current) } {
            Ok(report) => {
                let id = registry.next;
                registry.next += 1;
                registry.modules.push(Entry {
                    id,
                    path: module.path.clone(),
                    sections,
                });
                Ok((
                    Module {
                        id,
                        registered: true,
                        ..module
                    },
                    report,
                ))
            }
            Err(f) => Err(close(failure(&module.path, f))),
        }
    }

    /// The module behind `handle`: its tables checked and its image built.
    ///
    /// # Safety
    /// As for [`load`].
    unsafe fn open(handle: *mut c_void, path: &Path) -> Result<(Module, Sections), Error> {
        // SAFETY: an open handle and a C string.
        let f = unsafe { libc::dlsym(handle, TABLES_SYMBOL.as_ptr()) };
        if f.is_null() {
            return Err(Error::NoTables(dlerror()));
        }
        // The symbol is the module's `extern "C" fn() -> Tables`, as the caller promises.
        // SAFETY: as promised.
        let tables = unsafe { core::mem::transmute::<*mut c_void, extern "C" fn() -> Tables>(f) }();
        if tables.version != TABLES_VERSION {
            return Err(Error::TablesVersion(tables.version));
        }
        // The module's tables must lie in the object that exports the function (never the main
        // program, whose image the registry switches already).
        let object = segments_of(Some(f as u64)).filter(|s| !s.main);
        let Some(Segments {
            base, text, all, n, ..
        }) = object
        else {
            return Err(Error::NotTheModules);
        };
        let inside = |s: &crate::engine::Span| {
            s.len == 0 || all[..n].iter().any(|r| r.contains(s.start, s.len))
        };
        if !tables.spans.iter().all(inside) {
            return Err(Error::NotTheModules);
        }
        // The module's segments stay mapped while it is open, which lasts until `close` has
        // restored it; the tables lie inside them, as checked.
        // SAFETY: as said.
        let sections = unsafe { Sections::with_tables(tables.spans, text, &all[..n]) };
        let module = Module {
            id: u64::MAX,
            registered: false,
            path: path.display().to_string(),
            handle: handle as usize,
            base,
            sections,
        };
        Ok((module, sections))
    }

    /// Restores every site and slot of `module` to its original bytes and unregisters it: later
    /// switches leave it alone. The module stays loaded (its code runs its original sites) until
    /// [`close`]. If the restoring transition does not commit, the module stays registered and
    /// the error says why. Unregistering a module twice does nothing the second time.
    ///
    /// # Safety
    /// As for [`apply`], for the module: no thread runs its sites or routines meanwhile.
    pub unsafe fn unregister(module: &mut Module) -> Result<Report, Error> {
        let mut registry = registry();
        // SAFETY: the caller's promise.
        let report = unsafe { transition(module.sections, Current::Original) }
            .map_err(|f| failure(&module.path, f))?;
        registry.modules.retain(|m| m.id != module.id);
        module.registered = false;
        Ok(report)
    }

    /// Unregisters `module` if it still is (restoring it, as [`unregister`]), then closes it
    /// (`dlclose`). If the restoring transition does not commit, the module stays loaded and
    /// registered, and comes back with the error.
    ///
    /// # Safety
    /// No thread runs the module's code, returns into it or holds a pointer into it, now or
    /// after it is closed.
    pub unsafe fn close(mut module: Module) -> Result<(), (Box<Module>, Error)> {
        if module.registered {
            // SAFETY: the caller's promise covers the restoring transition.
            if let Err(e) = unsafe { unregister(&mut module) } {
                return Err((Box::new(module), e));
            }
        }
        // SAFETY: the module's handle, closed once; the caller keeps nothing of it.
        unsafe { libc::dlclose(module.handle as *mut c_void) };
        Ok(())
    }
}
