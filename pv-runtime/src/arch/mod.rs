//! Instruction encoders per architecture: exactly the forms the engine writes or checks.

pub mod x86_64;
