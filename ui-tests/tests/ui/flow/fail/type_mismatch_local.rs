// Tasks of the flow's own crate, one with six required parameters: the fifth,
// `zone`, is given a `u32` where the task takes a `String`.
use taskwire::task;

#[task(provides = "zone")]
fn pick_zone(region: String) -> u32 {
    region.len() as u32
}

#[task(provides = "volume_id")]
fn create_entry(size: u64, volume_type: String, project: String, user: String, zone: String, bootable: bool) -> u64 {
    let _ = (volume_type, project, user, zone, bootable);
    size
}

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String, project: String, user: String, region: String, bootable: bool) {
        pick_zone,
        create_entry,
    }
}

fn main() {}
