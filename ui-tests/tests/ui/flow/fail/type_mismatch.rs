// `measure_size` provides `size: u32`; `reserve_quota` requires `size: u64`.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear create_volume(spec: String) {
        measure_size,
        reserve_quota,
    }
}

fn main() {}
