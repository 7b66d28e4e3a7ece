// An optional parameter is checked too: `zone: Option<String>` takes a
// `String` (or an `Option<String>`), not the `u32` that `pick_zone` gives.
use taskwire::task;

#[task(provides = "zone")]
fn pick_zone(region: String) -> u32 {
    region.len() as u32
}

#[task(provides = "volume_id")]
fn create_entry(size: u64, zone: Option<String>) -> u64 {
    let _ = zone;
    size
}

taskwire::flow! {
    linear create_volume(size: u64, region: String) {
        pick_zone,
        create_entry,
    }
}

fn main() {}
