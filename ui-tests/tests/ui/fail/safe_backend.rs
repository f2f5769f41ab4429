// Safe code cannot install a routine: a backend promises its routines keep the contract.
use pv_runtime::engine::Descriptor;
use pv_runtime::{Backend, Routine};

struct Anything;

impl Backend for Anything {
    fn name(&self) -> &str {
        "anything"
    }
    fn routine(&self, _: &Descriptor) -> Option<Routine> {
        None
    }
}

fn main() {}
