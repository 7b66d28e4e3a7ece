// `make_a` needs `c`, `make_c` needs `b`, `make_b` needs `a`: the nested flow
// `ab` needs `make_c`'s value and gives it the one it needs.
use taskwire_ui_tests::letters::*;

taskwire::flow! {
    graph letters {
        make_c,
        linear ab {
            make_a,
            make_b,
        },
    }
}

fn main() {}
