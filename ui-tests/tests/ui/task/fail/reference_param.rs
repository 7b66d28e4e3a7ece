use taskwire::prelude::*;

#[task]
fn greet(name: &str) -> String {
    format!("hello, {name}")
}

fn main() {}
