//! A sync task with required values, a plain return and `provides`.

use taskwire::prelude::*;

/// Doubles a size.
#[task(provides = "doubled")]
fn double(size: u64) -> u64 {
    size * 2
}

fn main() {
    assert_eq!(double(21), 42); // the function is untouched
    let done = Engine::new(Flow::linear("demo").add(double::task()))
        .input("size", 21)
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("doubled").unwrap(), 42);
    let def = <double as Task>::DEF;
    assert!(def.meta.name.ends_with("::double"), "{}", def.meta.name);
    assert_eq!(def.meta.version.to_string(), "1.0");
    assert_eq!(def.meta.params[0].ty, "u64");
    assert!(!def.meta.is_async);
    assert!(def.meta.location.file.ends_with("sync.rs"));
    assert_eq!(def.meta.location.line, 6); // the `#[task]` line
}
