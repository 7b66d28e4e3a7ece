use taskwire::prelude::*;

#[task(revert_requires = ["ticket"])]
fn reserve(size: u64, ctx: TaskCtx) -> u64 {
    let _ = ctx;
    size
}

fn main() {}
