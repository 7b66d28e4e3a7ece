// The input `size` is declared `u32`; `extract_request` requires `size: u64`.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u32, volume_type: String) {
        extract_request,
    }
}

fn main() {}
