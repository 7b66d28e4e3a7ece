use std::rc::Rc;
use taskwire::prelude::*;

async fn yield_now() {}

#[task]
async fn create(size: u64) -> u64 {
    let shared = Rc::new(size);
    yield_now().await;
    *shared
}

fn main() {}
