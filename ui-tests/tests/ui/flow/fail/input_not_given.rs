// Every declared input must be given: `volume_type` is left out.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) {
        extract_request,
    }
}

fn main() {
    let _ = create_volume { size: 10 }.engine();
}
