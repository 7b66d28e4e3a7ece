//! Compile-pass and compile-fail cases for taskwire's macros, run with
//! trybuild by `tests/ui.rs`. This crate has no code of its own.
//!
//! Regenerate the expected compiler output after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p taskwire-ui-tests`, then review every
//! changed `.stderr` file: errors must point at the user's tokens and say what
//! to write instead.
