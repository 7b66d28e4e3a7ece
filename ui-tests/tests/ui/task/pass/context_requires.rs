//! `requires = [..]` names more values, read through a `TaskCtx` parameter.

use taskwire::prelude::*;

#[task(requires = ["width", "height"], provides = "area")]
fn area(ctx: TaskCtx, scale: u64) -> Result<u64, Failure> {
    let width: u64 = ctx.get("width")?;
    let height: u64 = ctx.get("height")?;
    Ok(width * height * scale)
}

fn main() {
    let meta = &<area as Task>::DEF.meta;
    assert_eq!(
        meta.requires().collect::<Vec<_>>(),
        ["scale", "width", "height"]
    );
    let done = Engine::new(Flow::linear("area").add(area::task()))
        .input("width", 2)
        .input("height", 3)
        .input("scale", 7)
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("area").unwrap(), 42);
}
