//! The link depends on `link.ld` and `rustflags`, which cargo does not track: a change to
//! either reruns this script, which relinks the guest.
fn main() {
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=rustflags");
}
