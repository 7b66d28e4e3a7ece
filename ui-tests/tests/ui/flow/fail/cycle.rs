// `make_a` needs `c`, `make_c` needs `b`, `make_b` needs `a`.
use taskwire_ui_tests::letters::*;

taskwire::flow! {
    graph letters {
        make_c,
        make_b,
        make_a,
    }
}

fn main() {}
