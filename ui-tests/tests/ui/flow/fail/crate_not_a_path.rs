use taskwire::prelude::*;

#[task(provides = "spec")]
fn extract_request(size: u64) -> String {
    format!("{size} GiB")
}

flow! {
    crate = 3;
    linear create_volume(size: u64) {
        extract_request,
    }
}

fn main() {}
