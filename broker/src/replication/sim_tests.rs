//! The replication simulation's seeds (the harness and what it checks: `sim/`).
//!
//! `FJORD_SIM_SEEDS=N` runs N seeds per policy (default 3,000); `FJORD_SIM_SEED=S` runs one seed
//! (a failure prints its seed).

use super::Counts;
use super::sim::run;

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("FJORD_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("FJORD_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    (1..=count).collect()
}

fn run_seeds(counts: Counts) {
    let mut acked = 0;
    let mut epochs = 0;
    for seed in seeds() {
        let outcome = std::panic::catch_unwind(|| run(seed, counts, 3_000));
        match outcome {
            Ok(ran) => {
                acked += ran.acked;
                epochs += ran.epochs;
            }
            Err(panic) => {
                eprintln!(
                    "replication simulation failed with seed {seed} ({counts:?}); replay with FJORD_SIM_SEED={seed}"
                );
                std::panic::resume_unwind(panic);
            }
        }
    }
    // A simulation where nothing was acknowledged or no leader ever changed proves little.
    assert!(
        acked > 0 && epochs > seeds().len(),
        "acked {acked}, leader epochs {epochs}"
    );
    println!(
        "{counts:?}: {} seeds, {acked} records acknowledged, {epochs} leader epochs",
        seeds().len()
    );
}

#[test]
fn replication_under_the_sync_policy_survives_power_losses_partitions_and_reordering() {
    run_seeds(Counts::Durable);
}

#[test]
fn replication_under_the_os_policy_survives_process_kills_partitions_and_reordering() {
    run_seeds(Counts::LogEnd);
}

/// Seeds that once failed, run every time: 701 (a late answer to an earlier fetch cut a
/// follower below its high watermark: replies now name their fetch offset), 723 (a restarted
/// leader led its old epoch again after losing its unflushed tail: it now leads only at a
/// newer epoch) and 1775 (a repeated assignment message ended an ISR expansion in flight, so
/// the high watermark ran ahead of the follower being added: only a newer partition epoch
/// ends it now).
#[test]
fn seeds_that_once_failed_stay_fixed() {
    for (seed, counts) in [
        (701, Counts::LogEnd),
        (701, Counts::Durable),
        (723, Counts::Durable),
        (1775, Counts::Durable),
    ] {
        run(seed, counts, 3_000);
    }
}
