//! Instruction encoders per architecture: exactly the forms the engine writes or checks.

pub mod ia64;
pub mod x86_64;
