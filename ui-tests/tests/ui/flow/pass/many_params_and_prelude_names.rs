// A task with more required parameters than a tuple of four, checked whole;
// optional parameters fed a `T` and an `Option<T>`;
// tasks named like prelude macros (`write`, `test`), glob-imported into a
// module that uses the prelude's `format!`, `write!` and `#[test]`: they get
// no callback, so nothing is ambiguous, and their requirements are checked by
// name.
mod tasks {
    use taskwire::task;

    #[task(provides = "volume_id")]
    pub fn create_entry(
        size: u64,
        volume_type: String,
        project: String,
        user: String,
        zone: String,
        bootable: bool,
    ) -> u64 {
        let _ = (volume_type, project, user, zone, bootable);
        size
    }

    /// Optional parameters take `T` (`zone`) or `Option<T>` (`note`).
    #[task(provides = "labelled")]
    pub fn label(zone: Option<String>, note: Option<String>, missing: Option<u8>) -> bool {
        zone.is_some() && note.is_none() && missing.is_none()
    }

    #[task(provides = "note")]
    pub fn no_note() -> Option<String> {
        None
    }

    #[task(provides = "written")]
    pub fn write(volume_id: u64) -> String {
        format!("volume {volume_id}")
    }

    #[task(provides = "tested")]
    pub fn test(written: String) -> bool {
        !written.is_empty()
    }
}

mod flows {
    use super::tasks::*;
    use std::fmt::Write as _;

    taskwire::flow! {
        pub linear create_volume(
            size: u64,
            volume_type: String,
            project: String,
            user: String,
            zone: String,
            bootable: bool,
        ) {
            create_entry,
            no_note,
            label,
            write,
            test,
        }
    }

    pub fn text() -> String {
        let mut s = format!("{}", 1);
        write!(s, "{}", 2).unwrap();
        s
    }

    #[test]
    fn unused() {}
}

fn main() {
    let done = taskwire::Engine::new(flows::create_volume())
        .input("size", 3u64)
        .input("volume_type", "ssd".to_owned())
        .input("project", "p".to_owned())
        .input("user", "u".to_owned())
        .input("zone", "z".to_owned())
        .input("bootable", true)
        .run()
        .unwrap();
    assert!(done.get::<bool>("tested").unwrap());
    assert!(done.get::<bool>("labelled").unwrap());
    assert_eq!(flows::text(), "12");
}
