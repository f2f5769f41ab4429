// Safe code cannot patch: a transition rewrites code other threads may run.
use pv_runtime::writer::RemapWriter;
use pv_runtime::{Live, Patcher, Target};

fn main() {
    let _ = Patcher::new().apply(&mut Live::new(RemapWriter::new()), Target::Native);
}
