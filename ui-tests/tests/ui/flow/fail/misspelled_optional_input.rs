// The flow declares `discont_code`, a typo of `discount_code`, which
// `price_order` takes as an optional argument: left alone, the argument
// would silently be `None`. The unread input is an error, with the name
// that was meant.
use taskwire::task;

#[task(provides = "price")]
fn price_order(total: u64, discount_code: Option<String>) -> u64 {
    if discount_code.is_some() {
        total * 9 / 10
    } else {
        total
    }
}

taskwire::flow! {
    linear checkout(total: u64, discont_code: String) {
        price_order,
    }
}

fn main() {}
