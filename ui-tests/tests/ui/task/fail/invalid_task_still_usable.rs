//! An invalid task still defines its descriptor: code naming it gets no
//! secondary errors, only the one about the attribute.

use taskwire::prelude::*;

#[task(retires = 3)]
fn bad(size: u64) -> u64 {
    size
}

fn main() {
    let _flow = Flow::linear("f").add(bad::task());
    let _def = <bad as Task>::DEF;
    let _ = bad(1);
}
