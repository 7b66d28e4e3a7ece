use taskwire::prelude::*;

struct Volumes;

impl Volumes {
    #[task]
    fn create(&self, size: u64) -> u64 {
        size
    }
}

fn main() {}
