// Safe code cannot write text: staging bytes into code is `unsafe`.
use pv_runtime::writer::{RemapWriter, TextWriter};

fn main() {
    let mut writer = RemapWriter::new();
    let _ = writer.stage(main as *const () as u64, &[0xcc]);
}
