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
