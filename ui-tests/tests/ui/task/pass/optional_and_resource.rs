//! `Option<T>` parameters are optional values; `Res<T>` parameters are
//! resources handed over by type.

use taskwire::prelude::*;
use taskwire::ParamKind;

#[derive(Debug)]
struct Quota {
    limit: u64,
}

#[task(provides = "granted")]
fn grant(
    size: u64,
    quota: Res<Quota>,
    note: Option<String>,
    extra: std::option::Option<u64>,
) -> u64 {
    let _ = note;
    size.min(quota.limit) + extra.unwrap_or(0)
}

fn main() {
    let kinds: Vec<ParamKind> = <grant as Task>::DEF
        .meta
        .params
        .iter()
        .map(|p| p.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            ParamKind::Required,
            ParamKind::Resource,
            ParamKind::Optional,
            ParamKind::Optional
        ]
    );
    let mut resources = taskwire::Resources::default();
    resources.insert_arc(std::sync::Arc::new(Quota { limit: 3 }));
    assert_eq!(grant(5, resources.get().unwrap(), None, None), 3);

    let done = Engine::new(Flow::linear("quota").add(grant::task()))
        .input("size", 10)
        .input("extra", 1)
        .resource(Quota { limit: 4 })
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("granted").unwrap(), 5);
}
