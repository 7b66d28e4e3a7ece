use taskwire::prelude::*;

#[task(priority = 1)]
fn check_access() {}

#[task(priority = 99, provides = "started")]
fn start_chute(name: String) -> String {
    name
}

fn main() {
    assert_eq!(check_access::task().def().meta.priority, Some(1));
    assert_eq!(start_chute::task().def().meta.priority, Some(99));
}
