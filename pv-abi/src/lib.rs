//! pv's facts as data, shared by the `#[pv_intrinsic]` macro (compile time), the runtime
//! (patching, reports) and review tools, so that every number has one source.
//!
//! Nothing here runs or allocates: register files, binding properties, the site-record layout,
//! nop encodings and Xen hypercall numbers are plain `const` tables.
#![warn(missing_docs)]
#![no_std]

pub mod backend;
pub mod binding;
pub mod body;
pub mod hyperv;
pub mod ia64;
pub mod kvm;
pub mod record;
pub mod sequence;
pub mod x86_64;
pub mod xen;

pub use backend::{Hypervisor, Vendor};
pub use binding::{Arch, Binding, BindingAbi};
pub use body::BodyKind;
