//! Conditions on graph links: the deciders asked before an atom runs.

use std::panic::AssertUnwindSafe;

use crate::decider::LinkResults;
use crate::failure::{Failure, FailureKind};
use crate::storage::Storage;

/// Asks the deciders in front of atom `i`: the links that said no, or the
/// failure of a decider that panicked.
pub(super) fn check_links(storage: &Storage, i: usize) -> Result<Vec<usize>, Failure> {
    let plan = &*storage.plan;
    let mut no = Vec::new();
    for k in plan.guards_of(i) {
        let link = &plan.deciders[k];
        let results = LinkResults {
            results: link
                .from
                .clone()
                .map(|j| {
                    let j = j as usize;
                    (plan.atoms[j].atom_name(), storage.results[j].as_ref())
                })
                .collect(),
        };
        let check = &link.decider.check;
        match std::panic::catch_unwind(AssertUnwindSafe(|| check(&results))) {
            Ok(true) => {}
            Ok(false) => no.push(k),
            Err(panic) => {
                let message = crate::failure::panic_message(&*panic);
                return Err(Failure::new(
                    FailureKind::Decider,
                    format!(
                        "the decider on link `{}` -> `{}` panicked: {message}",
                        link.from_name, link.to_name
                    ),
                ));
            }
        }
    }
    Ok(no)
}
