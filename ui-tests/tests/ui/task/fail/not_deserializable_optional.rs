// An optional parameter's type must be `Deserialize` too: reported at it.
use taskwire::prelude::*;

struct Zone;

#[task]
fn create(size: u64, zone: Option<Zone>) -> u64 {
    let _ = zone;
    size
}

fn main() {}
