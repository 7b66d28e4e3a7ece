use taskwire::prelude::*;

/// Neither a `std::error::Error` nor an `IntoFailure`.
#[derive(Debug)]
struct Refusal {
    code: u16,
}

#[task]
fn create(size: u64) -> Result<u64, Refusal> {
    Err(Refusal { code: size as u16 })
}

fn main() {}
