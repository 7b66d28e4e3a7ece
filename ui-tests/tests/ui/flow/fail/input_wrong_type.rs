// The input `size` is declared `u64`: the flow's inputs struct takes no `String`.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(size: u64, volume_type: String) {
        extract_request,
    }
}

fn main() {
    let _ = create_volume {
        size: "10 GiB".to_owned(),
        volume_type: "ssd".to_owned(),
    }
    .engine();
}
