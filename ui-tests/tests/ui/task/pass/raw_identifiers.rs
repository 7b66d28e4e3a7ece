//! Raw identifiers: the task and value names drop the `r#`.

use taskwire::prelude::*;

#[task(provides = "loop")]
fn r#type(r#match: u64) -> u64 {
    r#match + 1
}

fn main() {
    assert_eq!(r#type(1), 2);
    let meta = &<r#type as Task>::DEF.meta;
    assert!(meta.name.ends_with("::type"), "{}", meta.name);
    assert_eq!(meta.params[0].name, "match");
    let done = Engine::new(Flow::linear("raw").add(r#type::task()))
        .input("match", 41)
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("loop").unwrap(), 42);
}
