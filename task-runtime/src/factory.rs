//! Flow factories: functions that build a flow, registered by name, so that a
//! process that did not build a flow — a resumed run after a crash, a
//! conductor that claimed a job — can build it again from the name (and the
//! parameters) recorded in the logbook.
//!
//! ```
//! use taskwire_runtime::{factory, Flow, FnTask};
//! use serde_json::{json, Value};
//!
//! fn nightly(params: &Value) -> Result<Flow, String> {
//!     let n = params["copies"].as_u64().ok_or("`copies` must be a number")?;
//!     let mut flow = Flow::unordered("nightly");
//!     for i in 0..n {
//!         flow.push(FnTask::new(format!("copy{i}")).run(|_| Ok(json!(null))));
//!     }
//!     Ok(flow)
//! }
//! taskwire_runtime::flow_factory!("docs::nightly", nightly);
//!
//! let flow = factory::build("docs::nightly", &json!({"copies": 3})).unwrap();
//! assert_eq!(flow.atoms().len(), 3);
//! let err = factory::build("docs::nightli", &json!({})).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "no flow factory is registered under the name `docs::nightli` (did you mean `docs::nightly`?)"
//! );
//! ```

use serde_json::Value;

use crate::flow::Flow;

/// A flow factory submitted to the inventory by [`flow_factory!`](crate::flow_factory).
#[derive(Debug)]
pub struct FlowFactory {
    name: &'static str,
    build: fn(&Value) -> Result<Flow, String>,
    file: &'static str,
    line: u32,
}

impl FlowFactory {
    /// A factory named `name`; use [`flow_factory!`](crate::flow_factory).
    pub const fn new(
        name: &'static str,
        build: fn(&Value) -> Result<Flow, String>,
        file: &'static str,
        line: u32,
    ) -> FlowFactory {
        FlowFactory {
            name,
            build,
            file,
            line,
        }
    }

    /// The factory's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where it was registered (`file:line`).
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// Builds a flow.
    pub fn build(&self, params: &Value) -> Result<Flow, FactoryError> {
        (self.build)(params).map_err(|message| FactoryError::Failed {
            name: self.name.to_owned(),
            message,
        })
    }
}

inventory::collect!(FlowFactory);

/// Registers a flow factory under a name:
/// `flow_factory!("billing::nightly", build_fn)` where
/// `fn build_fn(params: &serde_json::Value) -> Result<Flow, String>`.
#[macro_export]
macro_rules! flow_factory {
    ($name:expr, $build:path $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::factory::FlowFactory::new($name, $build, ::core::file!(), ::core::line!())
        }
    };
}

/// An error finding or running a flow factory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactoryError {
    /// No factory has this name.
    #[error("no flow factory is registered under the name `{name}`{}", crate::registry::suggestion(.near))]
    Unknown {
        /// The name looked up.
        name: String,
        /// Registered names that look alike.
        near: Vec<String>,
    },
    /// Two factories share one name.
    #[error(
        "two flow factories are named `{name}`: one registered at {first}, the other at {second}"
    )]
    Duplicate {
        /// The name.
        name: String,
        /// Where the first was registered.
        first: String,
        /// Where the second was registered.
        second: String,
    },
    /// The factory refused its parameters.
    #[error("flow factory `{name}` could not build its flow: {message}")]
    Failed {
        /// The factory.
        name: String,
        /// What it said.
        message: String,
    },
}

/// Every registered factory, by name.
pub fn factories() -> impl Iterator<Item = &'static FlowFactory> {
    inventory::iter::<FlowFactory>.into_iter()
}

/// The factory named `name`.
pub fn find(name: &str) -> Result<&'static FlowFactory, FactoryError> {
    let mut found: Option<&'static FlowFactory> = None;
    for f in factories().filter(|f| f.name == name) {
        if let Some(first) = found {
            return Err(FactoryError::Duplicate {
                name: name.to_owned(),
                first: first.location(),
                second: f.location(),
            });
        }
        found = Some(f);
    }
    found.ok_or_else(|| FactoryError::Unknown {
        name: name.to_owned(),
        near: crate::registry::near_names(name, factories().map(|f| f.name)),
    })
}

/// Builds a flow with the factory named `name`.
pub fn build(name: &str, params: &Value) -> Result<Flow, FactoryError> {
    find(name)?.build(params)
}
