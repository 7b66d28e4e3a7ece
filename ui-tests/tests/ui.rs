//! The ui tests of `#[task]` and `flow!`: one mistake per `fail/` case (but
//! `several_errors`), one feature per `pass/` case. The expected `.stderr`
//! files depend on the compiler version.

#[test]
#[cfg_attr(miri, ignore)]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/task/fail/*.rs");
    t.pass("tests/ui/task/pass/*.rs");
    t.compile_fail("tests/ui/flow/fail/*.rs");
    t.pass("tests/ui/flow/pass/*.rs");
}
