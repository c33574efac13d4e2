//! A short fuzz run in CI: mutated real request bodies never panic the extender and every
//! answer is well formed. The long run is `cargo run --release --example fuzz_extender`.

mod fuzz_target;

#[test]
fn mutated_requests_get_well_formed_answers() -> anyhow::Result<()> {
    let target = fuzz_target::Target::new()?;
    let mut tally = target.run(20_261_204, 1_500);
    tally.add(target.run(7, 1_500));
    assert!(tally.clean(), "{tally:#?}");
    // Both paths are exercised: parsed and refused.
    assert!(tally.answered > 100 && tally.rejected > 100, "{tally:#?}");
    Ok(())
}

/// The one answer the 10-million run flagged: a pod holding a number beyond `f64` and a node
/// nested deeper than serde_json's limit, both in fields the extender skips. serde_json skips
/// such values without limits, so the extender answers and echoes the node as sent; reading the
/// request back stops at the pod's number, reading the answer at the node's depth. Both are the
/// request's own, and Go's decoder reads the node.
#[test]
fn an_answer_echoing_a_deep_node_is_the_requests_own() -> anyhow::Result<()> {
    let fixture = include_str!("fixtures/extender-filter-args-nodecache-false.json");
    let deep = format!("{}1{}", "[{\"x\":".repeat(100), "}]".repeat(100));
    let (pod, nodes) = fixture
        .split_once("\"Nodes\":")
        .ok_or_else(|| anyhow::anyhow!("the fixture has Nodes"))?;
    // The last node is the coolest, which passes the filter.
    let (before, last_status) = nodes
        .rsplit_once("\"status\":{")
        .ok_or_else(|| anyhow::anyhow!("the fixture's nodes have a status"))?;
    let request = format!(
        "{}\"Nodes\":{before}\"status\":{{\"fuzz\":{deep},{last_status}",
        pod.replacen("\"Pod\":{", "\"Pod\":{\"fuzz\":1e999,", 1),
    );
    let read_back = serde_json::from_str::<serde_json::Value>(&request).map_err(|e| e.to_string());
    assert!(
        read_back
            .as_ref()
            .is_err_and(|e| e.contains("number out of range")),
        "{read_back:?}"
    );
    let target = fuzz_target::Target::new()?;
    let answer = target.filter(request.as_bytes())?;
    let echoed = String::from_utf8_lossy(&answer);
    assert!(
        echoed.contains(&deep),
        "the deep node is echoed: {echoed:.300}"
    );
    assert!(fuzz_target::check("filter", request.as_bytes(), &answer).is_ok());
    Ok(())
}
