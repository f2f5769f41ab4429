//! Fixed-size storage that signal handlers may update while another update of the same storage
//! is interrupted half-way: atomics only, no lock, no allocation. A full log drops the entry and
//! counts it instead of growing. The test hypervisor and pv-monitor keep their state in them,
//! so that their signal handlers never lock or allocate.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// An append-only log of at most `N` values.
pub struct Log<const N: usize> {
    slots: [AtomicU64; N],
    len: AtomicUsize,
}

impl<const N: usize> Default for Log<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Log<N> {
    /// An empty one.
    pub const fn new() -> Self {
        Log {
            slots: [const { AtomicU64::new(0) }; N],
            len: AtomicUsize::new(0),
        }
    }

    /// Appends `v`; `false` if the log is full. A handler that interrupts a push takes the next
    /// slot, so both values are kept, in the order their slots were taken.
    pub fn push(&self, v: u64) -> bool {
        let slot = self
            .len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < N).then_some(n + 1)
            });
        match slot {
            Ok(i) => {
                self.slots[i].store(v, Ordering::Release);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether no more values fit.
    pub fn is_full(&self) -> bool {
        self.len.load(Ordering::Acquire) >= N
    }

    /// The values pushed so far.
    pub fn values(&self) -> impl Iterator<Item = u64> + '_ {
        let n = self.len.load(Ordering::Acquire).min(N);
        self.slots[..n].iter().map(|s| s.load(Ordering::Acquire))
    }

    /// Empties it (not while a handler may write).
    pub fn clear(&self) {
        self.len.store(0, Ordering::Release);
    }
}

/// A map from `u32` keys to `u64` values with room for `N` keys (open addressing; a key, once
/// placed, keeps its slot until [`Table::clear`]).
pub struct Table<const N: usize> {
    /// Key + 1 per slot; 0 is a free slot.
    keys: [AtomicU64; N],
    values: [AtomicU64; N],
}

impl<const N: usize> Default for Table<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Table<N> {
    /// An empty one.
    pub const fn new() -> Self {
        Table {
            keys: [const { AtomicU64::new(0) }; N],
            values: [const { AtomicU64::new(0) }; N],
        }
    }

    /// The value slot of `key`, claiming a free slot for it if `insert`.
    fn slot(&self, key: u32, insert: bool) -> Option<&AtomicU64> {
        let tag = key as u64 + 1;
        for probe in 0..N {
            let i = (key as usize).wrapping_add(probe) % N;
            let found = match self.keys[i].load(Ordering::Acquire) {
                0 if insert => {
                    match self.keys[i].compare_exchange(0, tag, Ordering::AcqRel, Ordering::Acquire)
                    {
                        // Claimed here, or by a handler that interrupted us with the same key.
                        Ok(_) => true,
                        Err(other) => other == tag,
                    }
                }
                0 => return None,
                other => other == tag,
            };
            if found {
                return Some(&self.values[i]);
            }
        }
        None
    }

    /// The value of `key`, 0 if never set.
    pub fn get(&self, key: u32) -> u64 {
        self.slot(key, false)
            .map_or(0, |v| v.load(Ordering::Acquire))
    }

    /// Sets `key`; `false` if the table is full.
    pub fn set(&self, key: u32, value: u64) -> bool {
        self.slot(key, true)
            .map(|v| v.store(value, Ordering::Release))
            .is_some()
    }

    /// The keys set, with their values.
    pub fn entries(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.keys
            .iter()
            .zip(&self.values)
            .filter_map(|(k, v)| match k.load(Ordering::Acquire) {
                0 => None,
                tag => Some(((tag - 1) as u32, v.load(Ordering::Acquire))),
            })
    }

    /// Empties it (not while a handler may write).
    pub fn clear(&self) {
        for (k, v) in self.keys.iter().zip(&self.values) {
            v.store(0, Ordering::Release);
            k.store(0, Ordering::Release);
        }
    }
}

/// An append-only log of at most `N` records of `W` words each. A record is visible once all
/// its words are stored: a reader never sees one half-written by an interrupted push.
pub struct Records<const N: usize, const W: usize> {
    words: [[AtomicU64; W]; N],
    ready: [AtomicU64; N],
    len: AtomicUsize,
}

impl<const N: usize, const W: usize> Default for Records<N, W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const W: usize> Records<N, W> {
    /// An empty one.
    pub const fn new() -> Self {
        Records {
            words: [const { [const { AtomicU64::new(0) }; W] }; N],
            ready: [const { AtomicU64::new(0) }; N],
            len: AtomicUsize::new(0),
        }
    }

    /// Appends `record`; `false` if the log is full. As [`Log::push`], an interrupting push
    /// takes the next slot.
    pub fn push(&self, record: [u64; W]) -> bool {
        let slot = self
            .len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < N).then_some(n + 1)
            });
        match slot {
            Ok(i) => {
                for (w, v) in self.words[i].iter().zip(record) {
                    w.store(v, Ordering::Release);
                }
                self.ready[i].store(1, Ordering::Release);
                true
            }
            Err(_) => false,
        }
    }

    /// The complete records pushed so far.
    pub fn values(&self) -> impl Iterator<Item = [u64; W]> + '_ {
        let n = self.len.load(Ordering::Acquire).min(N);
        (0..n)
            .filter(|&i| self.ready[i].load(Ordering::Acquire) != 0)
            .map(|i| core::array::from_fn(|w| self.words[i][w].load(Ordering::Acquire)))
    }

    /// Empties it (not while a handler may write).
    pub fn clear(&self) {
        for r in &self.ready {
            r.store(0, Ordering::Release);
        }
        self.len.store(0, Ordering::Release);
    }
}
