//! What a successful run hands back: the flow's values, by name.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{AtomState, FlowState};
use crate::storage::Storage;
use crate::task::short_type_name;

/// A value asked of a finished run that is not there or not of that type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Nothing provides the name.
    #[error("flow `{flow}`: no task or input provides `{name}`")]
    Missing {
        /// The flow.
        flow: String,
        /// The name asked for.
        name: String,
    },
    /// The value does not decode as the type asked for.
    #[error("flow `{flow}`: value `{name}` cannot be decoded as `{ty}`: {message}")]
    Decode {
        /// The flow.
        flow: String,
        /// The name asked for.
        name: String,
        /// The type asked for.
        ty: String,
        /// The decoder's message.
        message: String,
    },
}

/// A successful run: the flow's values by name, and its atoms' states.
#[derive(Debug, Clone)]
pub struct Done {
    storage: Arc<Storage>,
}

impl Done {
    pub(crate) fn new(storage: Arc<Storage>) -> Done {
        Done { storage }
    }

    /// The value named `name` as the flow's end sees it: the last atom that
    /// provided it, else the engine input of that name.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.storage.fetch(name)
    }

    /// The value named `name`, decoded as `T`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, ValueError> {
        let flow = || self.storage.plan.flow_name().to_owned();
        let value = self.value(name).ok_or_else(|| ValueError::Missing {
            flow: flow(),
            name: name.to_owned(),
        })?;
        T::deserialize(value).map_err(|e| ValueError::Decode {
            flow: flow(),
            name: name.to_owned(),
            ty: short_type_name::<T>(),
            message: e.to_string(),
        })
    }

    /// The flow's final state.
    pub fn flow_state(&self) -> FlowState {
        self.storage.flow_state()
    }

    /// The final state of the atom named `atom`.
    pub fn atom_state(&self, atom: &str) -> Option<AtomState> {
        let i = self.storage.plan().atom_index(atom)?;
        Some(self.storage.atom_state(i))
    }

    /// Everything the run recorded.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }
}
