//! Black-box tests live in `api/`; this crate has no code of its own.
