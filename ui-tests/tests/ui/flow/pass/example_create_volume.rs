// The three flows of `examples/create_volume/main.rs`, declared with `flow!`,
// compiled with the example's own source (its tasks, types and transports),
// and their shapes checked.
#[path = "../../../../../examples/create_volume/main.rs"]
#[allow(dead_code)]
mod example;

fn tasks(flow: &taskwire::Flow) -> Vec<&str> {
    // Tasks without `name = ".."` are registered as `module::fn`.
    flow.atoms()
        .iter()
        .map(|a| a.atom_name().rsplit("::").next().unwrap_or_default())
        .collect()
}

fn main() {
    let api = example::volume_create_api();
    assert_eq!(api.name(), "volume_create_api");
    assert_eq!(
        tasks(&api),
        ["extract_request", "reserve_quota", "create_db_entry", "commit_quota", "volume_cast"]
    );
    let scheduler = example::volume_create_scheduler();
    assert_eq!(scheduler.name(), "volume_create_scheduler");
    assert_eq!(tasks(&scheduler), ["schedule_create_volume", "cast_to_volume_host"]);
    let manager = example::volume_create_manager();
    assert_eq!(manager.name(), "volume_create_manager");
    assert_eq!(
        tasks(&manager),
        ["notify_create_start", "create_volume_on_host", "finish_volume"]
    );
    // The inputs, typed.
    let _engine = example::volume_create_api {
        size: 10,
        volume_type: "ssd".to_owned(),
        source: "raw".to_owned(),
        host: None,
    }
    .engine();
}
