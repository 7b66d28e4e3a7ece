//! Helpers shared by the integration tests that need servers of their own.

pub(crate) mod private_server;
#[allow(dead_code)] // used by the watching boards' fault tests only
pub(crate) mod watch;
