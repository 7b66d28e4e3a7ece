// The flow of `examples/picture.rs`, declared with `flow!`, compiled with the
// example's own source (its tasks and types), and its shape checked.
#[path = "../../../../../examples/picture.rs"]
#[allow(dead_code)]
mod example;

fn main() {
    let flow = example::create_volume();
    assert_eq!(flow.name(), "create_volume");
    let atoms: Vec<&str> = flow.atoms().iter().map(|a| a.atom_name()).collect();
    assert_eq!(
        atoms,
        ["extract_request", "reserve_quota", "create_db_entry", "commit_quota", "cast_to_scheduler"]
    );
    // The inputs, typed.
    let _engine = example::create_volume {
        size: 10,
        volume_type: "ssd".to_owned(),
    }
    .engine();
}
