//! Mutated `ts,value` CSV files are refused with a message or read, never a panic.

use tidal_predictor::csv::parse_csv;
use tidal_testkit::fuzz::Mutator;

#[test]
fn mutated_csv_never_panics() {
    let seed: String = std::iter::once("ts,value".to_string())
        .chain((0..200).map(|i| format!("{},{}", 1_700_000_000 + 300 * i, 0.5 + (i % 7) as f64)))
        .collect::<Vec<_>>()
        .join("\n");
    let mut mutator = Mutator::new(3);
    let (mut read, mut refused) = (0, 0);
    for _ in 0..5_000 {
        let bytes = mutator.text(&seed);
        let text = String::from_utf8_lossy(&bytes);
        match std::panic::catch_unwind(|| parse_csv(&text)) {
            Err(_) => panic!("parse_csv panicked on:\n{text}"),
            Ok(Ok(_)) => read += 1,
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    assert!(
        read > 100 && refused > 100,
        "{read} read, {refused} refused"
    );
}
