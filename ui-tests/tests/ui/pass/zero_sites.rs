// A binary without intrinsics links (the section anchors keep the bounds defined) and
// patching it reports nothing.
use pv_runtime::writer::RemapWriter;
use pv_runtime::{Live, Patcher, Target};

fn main() {
    assert_eq!(pv_runtime::sites().count(), 0);
    assert_eq!(pv_runtime::intrinsics().len(), 0);
    // SAFETY: one thread, no sites.
    let report = unsafe { Patcher::new().apply(&mut Live::new(RemapWriter::new()), Target::XEN) }
        .unwrap();
    assert_eq!(report.total().sites, 0);
    assert_eq!((report.bytes_written, report.pages, report.slots_switched), (0, 0, 0));
}
