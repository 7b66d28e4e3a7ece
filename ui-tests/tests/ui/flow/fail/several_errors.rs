// Four mistakes, all reported in one build: a missing requirement, a type
// mismatch, two providers of one name in a graph flow, an unused input.
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    graph create_volume(volume_type: String, spec: String, zone: String) {
        measure_size,
        reserve_quota,
        reserve_quota_v2,
        attach_volume,
    }
}

fn main() {}
