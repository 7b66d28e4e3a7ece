mod my_app {
    #[allow(unused_imports)]
    pub use taskwire as engine_room;
}

#[taskwire::task(crate = my_app::taskwire, provides = "spec")]
fn extract_request(size: u64) -> String {
    format!("{size} GiB")
}

fn main() {}
