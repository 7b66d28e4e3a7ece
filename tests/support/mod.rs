//! Helpers shared by the integration tests that need servers of their own.

pub(crate) mod private_server;
