// `.renamed(..)` is not a builder call.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) {
        extract_request.renamed("extract"),
    }
}

fn main() {}
