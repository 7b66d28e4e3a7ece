// Links, a link with a decider, and retries (named, with a delay, reading a
// value of the flow, on an anonymous flow), as the builder's calls.
use taskwire::decider::{Decider, Depth, LinkResults};
use taskwire::prelude::*;
use taskwire::retry::{Delay, ParameterizedForEach, Times};
use taskwire_ui_tests::volumes::*;

#[task(provides = "audited", name = "audit")]
fn audit(volume_id: String, attempt: u32) -> bool {
    !volume_id.is_empty() && attempt == 1
}

#[task(provides = "hosts", name = "list_hosts")]
fn list_hosts() -> Vec<String> {
    vec!["h1".to_owned(), "h2".to_owned()]
}

taskwire::flow! {
    pub linear create_volume(size: u64, volume_type: String) {
        extract_request,
        reserve_quota,
        graph prepare retry(Times::new(2)).named("prepare_again").provides("attempt").delay(Delay::None) {
            create_db_entry,
            notify_scheduler,
            audit,
            link("notify_scheduler", "audit"),
            link_if("create_db_entry", "audit", Decider::new(|r: &LinkResults<'_>| {
                r.get::<String>("create_db_entry").is_ok()
            }).depth(Depth::Atom)),
        },
        list_hosts,
        linear attach retry(ParameterizedForEach::new("hosts").revert_all()).requires(["hosts"]).provides("host_hint") {
            attach_volume,
        },
        unordered retry(Times::new(1)) {
            commit_quota,
        },
    }
}

fn main() {
    let flow = create_volume();
    let names: Vec<&str> = flow.atoms().iter().map(|a| a.atom_name()).collect();
    assert_eq!(
        names,
        [
            "extract_request",
            "reserve_quota",
            "prepare_again",
            "create_db_entry",
            "notify_scheduler",
            "audit",
            "list_hosts",
            "attach_retry",
            "attach_volume",
            "create_volume.5_retry",
            "commit_quota",
        ]
    );
    let done = Engine::new(flow)
        .input("size", 10u64)
        .input("volume_type", "ssd")
        .run()
        .unwrap();
    assert!(done.get::<bool>("audited").unwrap());
    assert_eq!(done.get::<String>("host").unwrap(), "vol-10@h1");
}
