// `rebind` of an argument the task does not have, and a misspelt option.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String, volume_size: u64) {
        extract_request.rebind("sise", "volume_size"),
    }
}

fn main() {}
