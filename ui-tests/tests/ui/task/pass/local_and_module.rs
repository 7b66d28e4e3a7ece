//! Tasks defined in a module (used by path from outside) and inside a function
//! body.

use taskwire::prelude::*;

mod volumes {
    use taskwire::prelude::*;

    /// Creates a volume.
    #[task(provides = "volume")]
    pub fn create(size: u64) -> String {
        format!("vol-{size}")
    }

    #[task(provides = "checked")]
    pub(crate) fn check(volume: String) -> bool {
        volume.starts_with("vol-")
    }
}

fn main() {
    #[task(provides = "tripled")]
    fn local(size: u64) -> u64 {
        size * 3
    }

    assert!(<volumes::create as Task>::DEF
        .meta
        .name
        .ends_with("::volumes::create"));
    assert_eq!(volumes::create(1), "vol-1");
    let flow = Flow::linear("mixed")
        .add(volumes::create::task())
        .add(volumes::check::task())
        .add(local::task());
    let done = Engine::new(flow).input("size", 2).run().unwrap();
    assert!(done.get::<bool>("checked").unwrap());
    assert_eq!(done.get::<u64>("tripled").unwrap(), 6);
    assert_eq!(local(1), 3);
}
