//! Pictures: flows and runs as Graphviz DOT and Mermaid text, pinned exactly.

mod common;

use common::{failing, step, Log};
use serde_json::json;
use taskwire::picture::Format;
use taskwire::{
    AtomState, Engine, Flow, FlowError, FlowMismatch, FlowState, FnTask, Picture, RunError,
};

/// extract, then a graph flow (two consumers of `spec`, and `notify` linked
/// after `db_entry`), then `cast`.
fn nested(log: &Log) -> Flow {
    Flow::linear("create_volume")
        .add(step(log, "extract", &["size"], "spec"))
        .add(
            Flow::graph("prepare")
                .add(step(log, "db_entry", &["spec"], "volume_id"))
                .add(step(log, "quota", &["spec"], "reservation"))
                .add(step(log, "notify", &[], "notified"))
                .link("db_entry", "notify"),
        )
        .add(step(
            log,
            "cast",
            &["volume_id", "reservation"],
            "scheduled",
        ))
}

#[test]
fn a_nested_flow_as_dot() {
    let log = Log::default();
    let dot = nested(&log).to_dot(&["size"]).unwrap();
    assert_eq!(
        dot,
        r#"digraph flow {
  graph [label="create_volume (linear)", labelloc=t];
  node [shape=box, style=rounded];
  a0 [label="extract"];
  subgraph cluster_1 {
    label="prepare (graph)";
    a1 [label="db_entry"];
    a2 [label="quota"];
    a3 [label="notify"];
  }
  a4 [label="cast"];
  a0 -> a1 [label="spec"];
  a0 -> a2 [label="spec"];
  a1 -> a3;
  a2 -> a4 [label="reservation"];
  a3 -> a4;
}
"#
    );
    assert_eq!(
        nested(&log).to_dot(&["size"]).unwrap(),
        dot,
        "the same flow gives the same text"
    );
}

#[test]
fn a_nested_flow_as_mermaid() {
    let log = Log::default();
    assert_eq!(
        nested(&log).to_mermaid(&["size"]).unwrap(),
        r#"flowchart TB
  subgraph f0 ["create_volume (linear)"]
    a0["extract"]
    subgraph f1 ["prepare (graph)"]
      a1["db_entry"]
      a2["quota"]
      a3["notify"]
    end
    a4["cast"]
  end
  a0 -->|"spec"| a1
  a0 -->|"spec"| a2
  a1 --> a3
  a2 -->|"reservation"| a4
  a3 --> a4
"#
    );
}

#[test]
fn provides_can_be_shown_and_edge_labels_left_out() {
    let log = Log::default();
    let flow = Flow::unordered("fanout")
        .add(step(&log, "a", &[], "x"))
        .add(
            Flow::linear("inner").add(step(&log, "b", &[], "")).add(
                FnTask::new("c")
                    .provides_each(["p", "q"])
                    .run(|_| Ok(json!([1, 2]))),
            ),
        );
    let picture = Picture::of_flow(&flow, &[])
        .unwrap()
        .show_provides(true)
        .label_edges(false);
    assert_eq!(
        picture.render(Format::Dot),
        r#"digraph flow {
  graph [label="fanout (unordered)", labelloc=t];
  node [shape=box, style=rounded];
  a0 [label="a\nprovides: x"];
  subgraph cluster_1 {
    label="inner (linear)";
    a1 [label="b"];
    a2 [label="c\nprovides: p, q"];
  }
  a1 -> a2;
}
"#
    );
    assert_eq!(
        picture.render(Format::Mermaid),
        r#"flowchart TB
  subgraph f0 ["fanout (unordered)"]
    a0["a<br>provides: x"]
    subgraph f1 ["inner (linear)"]
      a1["b"]
      a2["c<br>provides: p, q"]
    end
  end
  a1 --> a2
"#
    );
}

/// extract, a graph flow of two, `commit` that fails, and `cast` after it.
fn failing_flow(log: &Log) -> Flow {
    Flow::linear("create_volume")
        .add(step(log, "extract", &["size"], "spec"))
        .add(
            Flow::graph("prepare")
                .add(step(log, "db_entry", &["spec"], "volume_id"))
                .add(step(log, "quota", &["spec"], "reservation")),
        )
        .add(failing(log, "commit", &["reservation"]))
        .add(step(log, "cast", &["volume_id"], "scheduled"))
}

#[test]
fn a_failed_and_reverted_run_shows_its_states() {
    let log = Log::default();
    let flow = failing_flow(&log);
    let mut engine = Engine::new(flow.clone()).input("size", 1);
    engine.run().unwrap_err();
    assert_eq!(engine.flow_state(), FlowState::Reverted);

    let picture = engine.picture().unwrap().grouped_by(&flow).unwrap();
    assert_eq!(
        picture.to_dot(),
        r##"digraph flow {
  graph [label="create_volume (linear): REVERTED", labelloc=t];
  node [shape=box, style="rounded,filled"];
  a0 [label="extract\nREVERTED", fillcolor="#ffe14d", fontcolor="#000000"];
  subgraph cluster_1 {
    label="prepare (graph)";
    a1 [label="db_entry\nREVERTED", fillcolor="#ffe14d", fontcolor="#000000"];
    a2 [label="quota\nREVERTED", fillcolor="#ffe14d", fontcolor="#000000"];
  }
  a3 [label="commit\nREVERTED", fillcolor="#ffe14d", fontcolor="#000000"];
  a4 [label="cast\nPENDING", fillcolor="#bdbdbd", fontcolor="#000000"];
  a0 -> a1 [label="spec"];
  a0 -> a2 [label="spec"];
  a1 -> a3;
  a2 -> a3 [label="reservation"];
  a3 -> a4;
}
"##
    );
    assert_eq!(
        picture.to_mermaid(),
        r##"flowchart TB
  subgraph f0 ["create_volume (linear): REVERTED"]
    a0["extract<br>REVERTED"]
    subgraph f1 ["prepare (graph)"]
      a1["db_entry<br>REVERTED"]
      a2["quota<br>REVERTED"]
    end
    a3["commit<br>REVERTED"]
    a4["cast<br>PENDING"]
  end
  a0 -->|"spec"| a1
  a0 -->|"spec"| a2
  a1 --> a3
  a2 -->|"reservation"| a3
  a3 --> a4
  classDef pending fill:#bdbdbd,color:#000000
  class a4 pending
  classDef reverted fill:#ffe14d,color:#000000
  class a0,a1,a2,a3 reverted
"##
    );
}

#[test]
fn a_run_whose_revert_failed_shows_revert_failure_and_the_flow_failure() {
    let log = Log::default();
    let broken_revert = FnTask::new("reserve")
        .provides("reservation")
        .run(|_| Ok(json!(1)))
        .revert(|_| Err(taskwire::Failure::new(taskwire::FailureKind::Task, "stuck")));
    let flow = Flow::linear("create_volume")
        .add(step(&log, "extract", &[], "spec"))
        .add(broken_revert)
        .add(failing(&log, "commit", &["reservation"]));
    let mut engine = Engine::new(flow);
    assert!(matches!(
        engine.run().unwrap_err(),
        RunError::RevertFailed { .. }
    ));
    let picture = engine.picture().unwrap();
    let dot = picture.to_dot();
    assert!(
        dot.contains(r#"graph [label="create_volume: FAILURE", labelloc=t];"#),
        "{dot}"
    );
    assert!(
        dot.contains(
            r##"a0 [label="extract\nSUCCESS", fillcolor="#5cb85c", fontcolor="#000000"];"##
        ),
        "atoms before the failed revert stay as they are: {dot}"
    );
    assert!(
        dot.contains(
            r##"a1 [label="reserve\nREVERT_FAILURE", fillcolor="#8b0000", fontcolor="#ffffff"];"##
        ),
        "{dot}"
    );
    let mermaid = picture.to_mermaid();
    assert!(
        mermaid.contains("  subgraph f0 [\"create_volume: FAILURE\"]\n"),
        "{mermaid}"
    );
    assert!(
        mermaid.ends_with(
            "  classDef success fill:#5cb85c,color:#000000\n  class a0 success\n  \
             classDef reverted fill:#ffe14d,color:#000000\n  class a2 reverted\n  \
             classDef revert_failure fill:#8b0000,color:#ffffff\n  class a1 revert_failure\n"
        ),
        "{mermaid}"
    );
}

#[test]
fn an_engine_drawn_before_it_runs_shows_every_atom_pending() {
    let log = Log::default();
    let mut engine = Engine::new(nested(&log)).input("size", 1);
    let mermaid = engine.picture().unwrap().to_mermaid();
    assert!(mermaid.starts_with(
        "flowchart TB\n  subgraph f0 [\"create_volume: PENDING\"]\n    a0[\"extract<br>PENDING\"]\n    a1[\"db_entry<br>PENDING\"]\n"
    ), "flat: a run keeps no nesting\n{mermaid}");
    assert!(
        mermaid.ends_with(
            "  classDef pending fill:#bdbdbd,color:#000000\n  class a0,a1,a2,a3,a4 pending\n"
        ),
        "{mermaid}"
    );
    assert!(log.entries().is_empty(), "drawing runs nothing");
    engine.run().unwrap();
    assert_eq!(engine.atom_state("cast"), Some(AtomState::Success));
    assert!(engine
        .picture()
        .unwrap()
        .to_dot()
        .contains(r#"label="create_volume: SUCCESS""#));
}

/// Names with everything the two formats treat specially.
fn tricky(log: &Log) -> Flow {
    Flow::linear("odd \"flow\" \\ <x> & %%{init: {}}%%")
        .add(step(log, "say \"hi\"", &[], "v|\"1\"]"))
        .add(
            Flow::graph("end [g] {h} (i) | j")
                .add(step(log, "back\\slash\\n", &["v|\"1\"]"], "w"))
                .add(step(log, "multi\nline\u{7}", &["v|\"1\"]"], ""))
                .add(step(log, "<b>html</b> &amp; co", &["w"], "")),
        )
        .add(step(log, "end", &[], ""))
        .add(step(log, "ünïcødé ✓ 日本 #quot; #35; `md` o--x", &[], ""))
}

#[test]
fn names_with_special_characters_are_escaped_for_each_format() {
    let log = Log::default();
    let flow = tricky(&log);
    assert_eq!(
        flow.to_dot(&[]).unwrap(),
        r#"digraph flow {
  graph [label="odd \"flow\" \\ <x> &amp; %%{init: {}}%% (linear)", labelloc=t];
  node [shape=box, style=rounded];
  a0 [label="say \"hi\""];
  subgraph cluster_1 {
    label="end [g] {h} (i) | j (graph)";
    a1 [label="back\\slash\\n"];
    a2 [label="multi\nline\\u{7}"];
    a3 [label="<b>html</b> &amp;amp; co"];
  }
  a4 [label="end"];
  a5 [label="ünïcødé ✓ 日本 #quot; #35; `md` o--x"];
  a0 -> a1 [label="v|\"1\"]"];
  a0 -> a2 [label="v|\"1\"]"];
  a1 -> a3 [label="w"];
  a2 -> a4;
  a3 -> a4;
  a4 -> a5;
}
"#
    );
    assert_eq!(
        flow.to_mermaid(&[]).unwrap(),
        "flowchart TB
  subgraph f0 [\"odd #quot;flow#quot; \\ #lt;x#gt; #amp; #37;#37;{init: {}}#37;#37; (linear)\"]
    a0[\"say #quot;hi#quot;\"]
    subgraph f1 [\"end [g] {h} (i) | j (graph)\"]
      a1[\"back\\slash\\#8288;n\"]
      a2[\"multi<br>line\\u{7}\"]
      a3[\"#lt;b#gt;html#lt;/b#gt; #amp;amp; co\"]
    end
    a4[\"end\"]
    a5[\"ünïcødé ✓ 日本 #35;quot; #35;35; #96;md#96; o--x\"]
  end
  a0 -->|\"v|#quot;1#quot;]\"| a1
  a0 -->|\"v|#quot;1#quot;]\"| a2
  a1 -->|\"w\"| a3
  a2 --> a4
  a3 --> a4
  a4 --> a5
"
    );
    // Mermaid breaks a label at a literal `\n` (backslash, n) when it has
    // several lines: an invisible word joiner keeps it text.
    let with_provides = Picture::of_flow(&flow, &[])
        .unwrap()
        .show_provides(true)
        .to_mermaid();
    assert!(
        with_provides.contains("a1[\"back\\slash\\#8288;n<br>provides: w\"]"),
        "{with_provides}"
    );
}

#[test]
fn an_invalid_flow_gives_its_flow_errors() {
    let log = Log::default();
    let flow = Flow::linear("create_volume")
        .add(step(&log, "a", &["nowhere"], "x"))
        .add(step(&log, "a", &[], "y"))
        .add(
            Flow::graph("loop")
                .add(step(&log, "p", &["q_out"], "p_out"))
                .add(step(&log, "q", &["p_out"], "q_out")),
        );
    let expected = flow.compile(&[]).unwrap_err();
    assert_eq!(expected.errors().len(), 3, "{expected}");
    assert!(matches!(
        expected.errors()[0],
        FlowError::MissingRequirement { .. }
    ));
    assert_eq!(flow.to_dot(&[]).unwrap_err(), expected);
    assert_eq!(flow.to_mermaid(&[]).unwrap_err(), expected);
    assert_eq!(Picture::of_flow(&flow, &[]).unwrap_err(), expected);
    match Engine::new(flow).picture() {
        Err(RunError::Invalid(errors)) => assert_eq!(errors, expected),
        other => panic!("expected the flow's errors, got {other:?}"),
    }
    // A flow that needs inputs is drawn once they are named.
    let needs = Flow::linear("f").add(step(&log, "t", &["size"], ""));
    assert!(needs.to_dot(&[]).is_err());
    assert!(needs.to_dot(&["size"]).is_ok());
}

#[test]
fn grouping_a_run_by_another_flow_says_how_it_differs() {
    let log = Log::default();
    let mut engine = Engine::new(nested(&log)).input("size", 1);
    let picture = engine.picture().unwrap();

    let renamed = Flow::linear("other").add(step(&log, "extract", &["size"], "spec"));
    assert_eq!(
        picture
            .clone()
            .grouped_by(&renamed)
            .unwrap_err()
            .to_string(),
        "flow `other` is not the flow of this run, which is `create_volume`"
    );
    let shorter = Flow::linear("create_volume").add(step(&log, "extract", &["size"], "spec"));
    assert_eq!(
        picture.clone().grouped_by(&shorter).unwrap_err(),
        FlowMismatch::Count {
            flow: "create_volume".into(),
            flow_atoms: 1,
            run_atoms: 5
        }
    );
    let mut reordered = Flow::linear("create_volume");
    for name in ["extract", "quota", "db_entry", "notify", "cast"] {
        reordered.push(step(&log, name, &[], ""));
    }
    assert_eq!(
        picture.grouped_by(&reordered).unwrap_err().to_string(),
        "flow `create_volume`: atom 1 is `quota`, but in its run it is `db_entry`"
    );
}

/// Graphviz itself reads every DOT text above, when it is installed.
#[test]
fn graphviz_parses_the_dot() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    if Command::new("dot").arg("-V").output().is_err() {
        println!("note: Graphviz `dot` is not installed; DOT output not checked by Graphviz");
        return;
    }
    let log = Log::default();
    let mut run = Engine::new(failing_flow(&log)).input("size", 1);
    run.run().unwrap_err();
    let texts = [
        nested(&log).to_dot(&["size"]).unwrap(),
        tricky(&log).to_dot(&[]).unwrap(),
        Picture::of_flow(&tricky(&log), &[])
            .unwrap()
            .show_provides(true)
            .to_dot(),
        run.picture()
            .unwrap()
            .grouped_by(&failing_flow(&log))
            .unwrap()
            .to_dot(),
    ];
    for text in texts {
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{stderr}\n{text}"
        );
        let svg = String::from_utf8_lossy(&out.stdout);
        assert!(svg.contains("<svg"), "{svg}");
        if text.contains("say") {
            // Graphviz shows the names as written (then escapes them for XML).
            for shown in [
                "odd &quot;flow&quot; \\ &lt;x&gt; &amp; %%{init: {}}%% (linear)",
                "say &quot;hi&quot;",
                "back\\slash\\n",
                "&lt;b&gt;html&lt;/b&gt; &amp;amp; co",
                "ünïcødé ✓ 日本 #quot; #35; `md` o&#45;&#45;x",
            ] {
                assert!(svg.contains(shown), "{shown} not in\n{svg}");
            }
        }
    }
}

#[test]
fn retries_and_decider_links_are_marked() {
    use taskwire::decider::{Decider, Depth, LinkResults};
    use taskwire::retry::Times;
    let flow = Flow::graph("g")
        .add(FnTask::new("a").run(|_| Ok(serde_json::json!(1))))
        .add(
            Flow::linear("sub")
                .add(FnTask::new("b").run(|_| Ok(serde_json::json!(2))))
                .retry(Times::new(2)),
        )
        .link_if(
            "a",
            "sub",
            Decider::new(|_: &LinkResults<'_>| true).depth(Depth::Atom),
        );
    let dot = flow.to_dot(&[]).unwrap();
    assert!(dot.contains("a1 [label=\"sub_retry\\n(retry)\"]"), "{dot}");
    assert!(dot.contains("a0 -> a1 [label=\"if (ATOM)\"];"), "{dot}");
    let mermaid = flow.to_mermaid(&[]).unwrap();
    assert!(mermaid.contains("a0 -->|\"if (ATOM)\"| a1"), "{mermaid}");
}

#[test]
fn pictures_show_short_names_unless_two_would_read_the_same() {
    // Tasks registered under their module path, as `#[task]` names them
    // without `name = ".."`.
    let flow = Flow::linear("orders")
        .add(
            FnTask::new("shop::orders::validate")
                .provides("valid")
                .run(|_| Ok(json!(1))),
        )
        .add(
            FnTask::new("shop::billing::charge")
                .requires(["valid"])
                .run(|_| Ok(json!(1))),
        )
        .add(FnTask::new("shop::audit::charge").run(|_| Ok(json!(1))));
    let picture = Picture::of_flow(&flow, &[]).unwrap().label_edges(false);
    let dot = picture.to_dot();
    assert!(dot.contains("label=\"validate\""), "{dot}");
    assert!(!dot.contains("shop::orders::validate"), "{dot}");
    // Two `charge`s: both keep their full names.
    assert!(dot.contains("label=\"shop::billing::charge\""), "{dot}");
    assert!(dot.contains("label=\"shop::audit::charge\""), "{dot}");
    let full = Picture::of_flow(&flow, &[])
        .unwrap()
        .full_names(true)
        .to_dot();
    assert!(full.contains("label=\"shop::orders::validate\""), "{full}");
    // An input the flow does not read does not stop a picture (the inputs
    // recorded for a run may be more than its flow reads now).
    assert!(Picture::of_flow(&flow, &["unread"]).is_ok());
}
