// The retry reads `hosts`, which nothing before its flow provides.
use taskwire::retry::ParameterizedForEach;
use taskwire_ui_tests::volumes::*;

taskwire::flow! {
    linear attach(volume_id: String) {
        linear attach_to_host retry(ParameterizedForEach::new("hosts")).requires(["hosts"]).provides("host_hint") {
            attach_volume,
        },
    }
}

fn main() {}
