//! Patching while other threads run: [`Quiesced`] wraps a writer so that its commit happens
//! while every other thread of the process is stopped at a point where the change cannot hurt
//! it — not inside a changing instruction sequence, and not about to return (or resume a
//! signal frame) into one.
//!
//! The protocol, per commit (Linux's `stop_machine` with the check `text_poke_bp` makes
//! unnecessary for one instruction, done for many):
//! 1. For each staged write, the bytes that actually change are known (staged against the
//!    live text): one range `[first changed byte, last changed byte + 1)` per write.
//! 2. Every other thread (`/proc/self/task`, again until no new one appears) gets a real-time
//!    signal; its handler records the interrupted `rip` and `rsp` and waits on a futex.
//! 3. With every thread parked, each is checked: its `rip`, and every word of its stack from
//!    the interrupted `rsp` up (64 KiB, read with `process_vm_readv`, so an unmapped end is
//!    not a fault: return addresses, and the saved `rip` of any signal frame), must not point
//!    inside a changed range — at its first byte only where that is the write's first byte
//!    (the thread then runs the new bytes from their start), and at or past its end is done.
//!    A value inside a change where only the padding nops of the old bytes remain before the
//!    write's end is moved to that end instead (nothing was left to do there): a thread parked
//!    on padding resumes after it, and a 5-byte call returning into the `nop` after it, when
//!    its site becomes a 6-byte `call [rip+slot]`, returns to the site's end. Handlers that
//!    emulate an instruction and step past it block the park signal ([`park_signal`]), so no
//!    signal frame holds a decoded-but-not-stepped `rip`.
//! 4. All safe: the inner writer commits (its own serialisation reaches every thread, parked
//!    ones included), then the threads are released. Any unsafe: they are released at once and
//!    the check is retried after a pause (the thread leaves the sequence in nanoseconds; a
//!    return address leaves when the callee returns); after [`MAX_ATTEMPTS`] the commit is
//!    refused with every byte as it was ([`QuiesceError::Busy`]).
//!
//! Why not Linux's `int3` protocol: it keeps one instruction consistent (write `int3`, the
//! tail, the head, each followed by a sync on every CPU), but pv's transitions replace whole
//! sequences — `pushfq; pop rax` by a `call`, a 5-byte `call` by a 6-byte `call [rip+slot]` —
//! where a thread between two old instructions, or returning into the new bytes, is wrong
//! whatever order the bytes are written in. Linux meets the same problem in its
//! `apply_alternatives` and paravirt patching by doing them before other CPUs run (or under
//! `stop_machine` for late changes); this is that, for a process. The userland cost is a
//! signal round trip per thread per commit, paid once per transition, not per site. W^X holds
//! throughout: the inner writer ([`RemapWriter`](super::RemapWriter)) never maps text writable.
//!
//! Threads that block the signal, or sleep in a system call that does not return for it,
//! make the commit wait up to [`ARRIVAL_TIMEOUT`] and then refuse. Only threads of this
//! process are checked: code shared with other processes (a file mapping) is copied by
//! `RemapWriter`, never written in place.

use super::{CommitError, TextWriter, WriteStats};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use std::vec::Vec;
use std::{fmt, format, io, vec};

/// How many times a commit re-stops the world before it refuses.
pub const MAX_ATTEMPTS: u32 = 1000;
/// How long a commit waits for every thread to park.
pub const ARRIVAL_TIMEOUT: Duration = Duration::from_millis(500);
/// How much of each thread's stack is searched for return addresses.
const STACK_WINDOW: usize = 64 << 10;
/// How many threads one stop can park.
const MAX_THREADS: usize = 256;

/// Why a quiesced commit failed.
#[derive(Debug)]
pub enum QuiesceError<E> {
    /// The inner writer failed (its own `restored` says what is left).
    Inner(E),
    /// A thread stayed inside a changing range (or returning into one), or did not park.
    Busy {
        /// The thread.
        tid: i32,
        /// What kept it: its `rip`, a stack word, or 0 if it never parked.
        at: u64,
    },
    /// Stopping the threads failed (e.g. `/proc/self/task` unreadable).
    Stop(io::Error),
}

impl<E: fmt::Display> fmt::Display for QuiesceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuiesceError::Inner(e) => e.fmt(f),
            QuiesceError::Busy { tid, at: 0 } => write!(f, "thread {tid} did not stop"),
            QuiesceError::Busy { tid, at } => write!(
                f,
                "thread {tid} kept running in (or returning into) changing code at {at:#x}"
            ),
            QuiesceError::Stop(e) => write!(f, "stopping the other threads: {e}"),
        }
    }
}

/// What the stops of one writer cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuiesceStats {
    /// Commits made with every other thread parked.
    pub commits: u64,
    /// Stops released early because a thread was in the way.
    pub retries: u64,
    /// Threads parked, summed over stops.
    pub parked: u64,
}

/// A [`TextWriter`] that commits with every other thread parked at a safe point (see the
/// module docs). It discharges, for the threads of this process, the part of
/// [`TextWriter::stage`]'s contract that says nothing runs, or returns into, code while it
/// changes.
pub struct Quiesced<W> {
    inner: W,
    /// Per staged write: its range and the bytes in it that change.
    changed: Vec<Change>,
    stats: QuiesceStats,
}

impl<W> Quiesced<W> {
    /// Wraps `inner`.
    ///
    /// # Safety
    /// `inner` patches this process's own text: every address staged through the wrapper is
    /// mapped and readable here (the wrapper reads the live bytes to see which change).
    pub unsafe fn new(inner: W) -> Self {
        Quiesced {
            inner,
            changed: Vec::new(),
            stats: QuiesceStats::default(),
        }
    }

    /// The wrapped writer (e.g. to inject a fault).
    pub fn inner(&mut self) -> &mut W {
        &mut self.inner
    }

    /// What the stops cost so far.
    pub fn stats(&self) -> QuiesceStats {
        self.stats
    }
}

impl<W: TextWriter> TextWriter for Quiesced<W> {
    type Error = QuiesceError<W::Error>;

    unsafe fn stage(&mut self, addr: u64, bytes: &[u8]) -> Result<(), Self::Error> {
        // SAFETY: the caller's contract, forwarded.
        unsafe { self.inner.stage(addr, bytes) }.map_err(QuiesceError::Inner)?;
        // SAFETY: `new`'s contract: staged addresses are this process's mapped text.
        let old = unsafe { core::slice::from_raw_parts(addr as usize as *const u8, bytes.len()) };
        let differs = |(o, n): (&u8, &u8)| o != n;
        let pairs = || old.iter().zip(bytes);
        if let (Some(first), Some(last)) = (pairs().position(differs), pairs().rposition(differs)) {
            self.changed.push(Change {
                write: (addr, addr + bytes.len() as u64),
                start: addr + first as u64,
                end: addr + last as u64 + 1,
            });
        }
        Ok(())
    }

    fn abort(&mut self) {
        self.changed.clear();
        self.inner.abort();
    }

    fn commit(&mut self) -> Result<WriteStats, CommitError<Self::Error>> {
        let refuse = |this: &mut Self, error| {
            this.abort();
            Err(CommitError {
                error,
                restored: true,
            })
        };
        if self.changed.is_empty() {
            return self.inner.commit().map_err(|e| CommitError {
                error: QuiesceError::Inner(e.error),
                restored: e.restored,
            });
        }
        self.changed.sort_unstable_by_key(|c| c.start);
        let mut last = QuiesceError::Busy { tid: 0, at: 0 };
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                self.stats.retries += 1;
                std::thread::sleep(Duration::from_micros(20));
            }
            let world = match World::stop() {
                Ok(w) => w,
                Err(e) => return refuse(self, QuiesceError::Stop(e)),
            };
            self.stats.parked += world.parked as u64;
            match world.in_the_way(&self.changed) {
                Some(busy) => last = busy,
                None => {
                    let result = self.inner.commit();
                    drop(world);
                    self.changed.clear();
                    self.stats.commits += 1;
                    return result.map_err(|e| CommitError {
                        error: QuiesceError::Inner(e.error),
                        restored: e.restored,
                    });
                }
            }
        }
        refuse(self, last)
    }
}

/// One staged write: its range, and the bytes in it that differ from the live text.
#[derive(Clone, Copy, Debug)]
struct Change {
    write: (u64, u64),
    start: u64,
    end: u64,
}

/// One parked thread, written by its signal handler (and `resume` by the patcher).
struct Parked {
    tid: AtomicI32,
    rip: AtomicU64,
    rsp: AtomicU64,
    arrived: AtomicBool,
    /// Where the thread resumes instead of `rip` (0: at `rip`).
    resume: AtomicU64,
    /// Set once the handler has taken `resume` and is leaving: the next stop may reuse the
    /// slot only then.
    departed: AtomicBool,
}

static PARKED: [Parked; MAX_THREADS] = [const {
    Parked {
        tid: AtomicI32::new(0),
        rip: AtomicU64::new(0),
        rsp: AtomicU64::new(0),
        arrived: AtomicBool::new(false),
        resume: AtomicU64::new(0),
        departed: AtomicBool::new(false),
    }
}; MAX_THREADS];
/// The stop in progress; handlers park until [`RELEASED`] equals it.
static STOP: AtomicU32 = AtomicU32::new(0);
/// The last stop released (a futex word).
static RELEASED: AtomicU32 = AtomicU32::new(0);

/// The signal that parks a thread: a real-time one, queued per thread, not used by std. A
/// handler that emulates an instruction and steps past it (pv-monitor, the test hypervisor)
/// blocks it while it runs, so that no thread parks between decoding an instruction and
/// stepping over it: its saved `rip` would be stepped by the old instruction's length.
pub fn park_signal() -> libc::c_int {
    libc::SIGRTMIN() + 7
}

fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// The handler: record where the thread was, then wait (futex) for the release. Only atomics
/// and system calls: async-signal-safe. errno is preserved.
extern "C" fn on_park(_: libc::c_int, _: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: errno is this thread's; restored before returning.
    let errno = unsafe { *libc::__errno_location() };
    let stop = STOP.load(Ordering::Acquire);
    let me = gettid();
    if let Some(p) = PARKED.iter().find(|p| p.tid.load(Ordering::Acquire) == me) {
        // SAFETY: the kernel passes this thread's ucontext to an SA_SIGINFO handler.
        let gregs = unsafe { &mut (*(ctx as *mut libc::ucontext_t)).uc_mcontext.gregs };
        p.rip
            .store(gregs[libc::REG_RIP as usize] as u64, Ordering::Relaxed);
        p.rsp
            .store(gregs[libc::REG_RSP as usize] as u64, Ordering::Relaxed);
        p.arrived.store(true, Ordering::Release);
        loop {
            let released = RELEASED.load(Ordering::Acquire);
            if released.wrapping_sub(stop) as i32 >= 0 {
                break;
            }
            // SAFETY: a futex wait on a static word; spurious wake-ups loop.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    RELEASED.as_ptr(),
                    libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                    released,
                    core::ptr::null::<libc::timespec>(),
                )
            };
        }
        let resume = p.resume.swap(0, Ordering::Acquire);
        if resume != 0 {
            gregs[libc::REG_RIP as usize] = resume as i64;
        }
        p.departed.store(true, Ordering::Release);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

fn install_handler() -> io::Result<()> {
    static INSTALLED: std::sync::OnceLock<Result<(), i32>> = std::sync::OnceLock::new();
    let r = INSTALLED.get_or_init(|| {
        // SA_RESTART so that system calls the signal interrupts resume.
        // SAFETY: installs `on_park` (async-signal-safe) for a signal nothing else here uses.
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = on_park as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            if libc::sigaction(park_signal(), &action, core::ptr::null_mut()) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
            }
        }
    });
    r.map_err(io::Error::from_raw_os_error)
}

/// Every other thread parked, until dropped.
struct World {
    stop: u32,
    parked: usize,
}

fn other_threads(me: i32) -> io::Result<Vec<i32>> {
    let mut tids = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task")? {
        let tid: i32 = entry?
            .file_name()
            .to_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if tid != 0 && tid != me {
            tids.push(tid);
        }
    }
    Ok(tids)
}

impl World {
    fn stop() -> io::Result<World> {
        install_handler()?;
        let me = gettid();
        let stop = STOP.load(Ordering::Relaxed).wrapping_add(1);
        await_departures();
        for p in &PARKED {
            p.tid.store(0, Ordering::Relaxed);
            p.arrived.store(false, Ordering::Relaxed);
            p.resume.store(0, Ordering::Relaxed);
            p.departed.store(false, Ordering::Relaxed);
        }
        STOP.store(stop, Ordering::Release);
        let mut world = World { stop, parked: 0 };
        let started = Instant::now();
        // Signal every thread, then look again: a thread may have started one meanwhile.
        loop {
            let mut new = 0;
            for tid in other_threads(me)? {
                if PARKED[..world.parked]
                    .iter()
                    .any(|p| p.tid.load(Ordering::Relaxed) == tid)
                {
                    continue;
                }
                if world.parked == MAX_THREADS {
                    return Err(io::Error::other("more threads than one stop can park"));
                }
                PARKED[world.parked].tid.store(tid, Ordering::Release);
                // A thread that exited meanwhile gives ESRCH and is simply not waited for.
                let (pid, signal) = (std::process::id() as i32, park_signal());
                // SAFETY: tgkill to a thread of this process, no pointers.
                let sent = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, signal) };
                if sent == 0 {
                    world.parked += 1;
                    new += 1;
                } else {
                    PARKED[world.parked].tid.store(0, Ordering::Release);
                }
            }
            while !PARKED[..world.parked]
                .iter()
                .all(|p| p.arrived.load(Ordering::Acquire))
            {
                if started.elapsed() > ARRIVAL_TIMEOUT {
                    let late = PARKED[..world.parked]
                        .iter()
                        .find(|p| !p.arrived.load(Ordering::Acquire))
                        .map_or(0, |p| p.tid.load(Ordering::Relaxed));
                    drop(world);
                    return Err(io::Error::other(format!("thread {late} did not stop")));
                }
                std::thread::yield_now();
            }
            if new == 0 {
                return Ok(world);
            }
        }
    }

    /// The first parked thread in the way of `changed` (see the module docs), if any. A thread
    /// stopped inside a change where only padding nops remain before the write's end is not
    /// in the way: it is set to resume at the end (what it had left to do was nothing).
    fn in_the_way<E>(&self, changed: &[Change]) -> Option<QuiesceError<E>> {
        // At a change's first byte is safe only where that is the write's first byte: the
        // thread then runs the new bytes from their start.
        // `changed` is sorted by start and its ranges are disjoint (one per site).
        let inside = |v: u64| {
            let c = &changed[changed.partition_point(|c| c.start <= v).checked_sub(1)?];
            ((v > c.start && v < c.end) || (v == c.start && c.start != c.write.0)).then_some(c)
        };
        let mut stack = vec![0u8; STACK_WINDOW];
        let mut fixes = Vec::new();
        for p in &PARKED[..self.parked] {
            let tid = p.tid.load(Ordering::Relaxed);
            let rip = p.rip.load(Ordering::Relaxed);
            let resume = match inside(rip) {
                Some(c) if only_padding(rip, c.write.1) => c.write.1,
                Some(_) => return Some(QuiesceError::Busy { tid, at: rip }),
                None => 0,
            };
            p.resume.store(resume, Ordering::Release);
            let rsp = p.rsp.load(Ordering::Relaxed);
            let n = read_own(rsp, &mut stack);
            for (i, w) in stack[..n & !7].chunks_exact(8).enumerate() {
                let word = u64::from_le_bytes(w.try_into().unwrap_or_default());
                let Some(c) = inside(word) else {
                    continue;
                };
                // A return address into trailing padding (a 5-byte call returning into the
                // nop after it when the site becomes a 6-byte call) returns to the end instead.
                if !only_padding(word, c.write.1) {
                    return Some(QuiesceError::Busy { tid, at: word });
                }
                fixes.push((rsp + 8 * i as u64, c.write.1));
            }
        }
        for (at, to) in fixes {
            write_own(at, &to.to_le_bytes());
        }
        None
    }
}

/// Whether the live text from `at` to `end` is a run of the nops pv pads sites with
/// ([`pv_abi::x86_64::NOPS`]), starting exactly at `at`.
fn only_padding(mut at: u64, end: u64) -> bool {
    let mut text = [0u8; 16];
    while at < end {
        let n = read_own(at, &mut text[..((end - at) as usize).min(16)]);
        let Some(nop) = pv_abi::x86_64::NOPS
            .iter()
            .rev()
            .find(|nop| nop.len() <= n && text[..nop.len()] == ***nop)
        else {
            return false;
        };
        at += nop.len() as u64;
    }
    true
}

/// Copies this process's memory at `addr` into `to` until the first unmapped byte: how many
/// bytes were copied (`process_vm_readv` on ourselves: an unmapped stack end is an error
/// code, not a fault).
fn read_own(addr: u64, to: &mut [u8]) -> usize {
    let mut done = 0;
    while done < to.len() {
        let at = addr + done as u64;
        let chunk = (4096 - (at & 4095) as usize).min(to.len() - done);
        let local = libc::iovec {
            iov_base: to[done..].as_mut_ptr().cast(),
            iov_len: chunk,
        };
        let remote = libc::iovec {
            iov_base: at as usize as *mut libc::c_void,
            iov_len: chunk,
        };
        // SAFETY: reads into our own buffer; the remote side is checked by the kernel.
        let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
        if n != chunk as isize {
            break;
        }
        done += chunk;
    }
    done
}

/// Writes `from` into this process's memory at `at` (a parked thread's stack).
fn write_own(at: u64, from: &[u8]) {
    let local = libc::iovec {
        iov_base: from.as_ptr() as *mut libc::c_void,
        iov_len: from.len(),
    };
    let remote = libc::iovec {
        iov_base: at as usize as *mut libc::c_void,
        iov_len: from.len(),
    };
    // The kernel checks the range: an unmapped one is an error code, not a fault.
    // SAFETY: writes a word of a parked thread's stack that was just read.
    unsafe { libc::process_vm_writev(libc::getpid(), &local, 1, &remote, 1, 0) };
}

impl Drop for World {
    /// Releases every parked thread (the next stop waits until each has left its slot).
    fn drop(&mut self) {
        RELEASED.store(self.stop, Ordering::Release);
        // SAFETY: wakes every waiter on the static futex word.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                RELEASED.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                i32::MAX,
            )
        };
        LAST_PARKED.store(self.parked, Ordering::Release);
    }
}

/// How many slots the last stop used: the next one waits until their threads have left.
static LAST_PARKED: AtomicUsize = AtomicUsize::new(0);

/// Waits until every thread of the last stop has taken where to resume, so its slot can be
/// reused (usually at once: the engine's own work between two commits gives them time).
fn await_departures() {
    for p in &PARKED[..LAST_PARKED.load(Ordering::Acquire)] {
        while p.arrived.load(Ordering::Acquire) && !p.departed.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
    }
}
