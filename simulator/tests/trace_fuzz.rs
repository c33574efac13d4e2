//! Mutated trace files (the README's example) are refused with a message naming what is
//! wrong, or read, never a panic; and a trace that asks for absurd sizes is refused before
//! anything that big is built.

use std::path::Path;

use tidal_simulator::trace::parse;
use tidal_testkit::fuzz::Mutator;

#[test]
fn mutated_traces_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/simulate");
    let seed = std::fs::read_to_string(dir.join("trace.yaml")).expect("the example trace");
    let mut mutator = Mutator::new(5);
    let (mut read, mut refused) = (0, 0);
    for _ in 0..1_000 {
        let bytes = mutator.text(&seed);
        let text = String::from_utf8_lossy(&bytes);
        match std::panic::catch_unwind(|| parse(&text, &dir)) {
            Err(_) => panic!("the trace parser panicked on:\n{text}"),
            Ok(Ok(_)) => read += 1,
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    assert!(read > 10 && refused > 10, "{read} read, {refused} refused");
}

#[test]
fn absurd_sizes_are_refused_before_anything_is_built() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/simulate");
    let seed = std::fs::read_to_string(dir.join("trace.yaml")).expect("the example trace");
    for (from, to) in [
        ("count: 40,", "count: 4000000,"),
        ("replicas: 10\n", "replicas: 4000000000\n"),
        ("duration: 3d", "duration: 100000d"),
    ] {
        let text = seed.replace(from, to);
        assert_ne!(text, seed, "{from:?} not in the example");
        let err = parse(&text, &dir).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("write")),
            "{to}: {err:?}"
        );
    }
}
