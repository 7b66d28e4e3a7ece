//! `name = ".."` sets the registry name, `version = "major.minor"` the version;
//! every task is submitted to the registry.

use taskwire::prelude::*;
use taskwire::{Registry, Version};

/// Creates a volume.
#[task(name = "volumes.create", version = "2.10")]
pub fn create_volume(size: u64) -> u64 {
    size
}

fn main() {
    let def = <create_volume as Task>::DEF;
    assert_eq!(def.meta.name, "volumes.create");
    assert_eq!(def.meta.version, Version::new(2, 10));
    let registry = Registry::from_inventory().unwrap();
    assert_eq!(
        registry.get("volumes.create").unwrap().meta.version,
        Version::new(2, 10)
    );
    let spec = registry.spec("volumes.create").unwrap();
    assert_eq!(spec.atom_name(), "volumes.create");
    assert_eq!(create_volume(3), 3);
    let _ = create_volume::task();
}
