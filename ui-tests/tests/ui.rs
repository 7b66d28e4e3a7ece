//! The ui tests of `#[task]`: one mistake per `fail/` case, one feature per
//! `pass/` case. The expected `.stderr` files depend on the compiler version.

#[test]
#[cfg_attr(miri, ignore)]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/task/fail/*.rs");
    t.pass("tests/ui/task/pass/*.rs");
}
