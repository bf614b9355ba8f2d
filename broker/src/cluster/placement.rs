//! Replica placement for new partitions, as Kafka places them (`assignReplicasToBrokers`):
//! round-robin over the brokers in rack-alternating order, the first replicas of consecutive
//! partitions on consecutive brokers, the other replicas shifted so that no two partitions
//! share the same followers more than needed, and the replicas of one partition in as many
//! racks as there are.
//!
//! Pure: the proposer picks the random start and shift and the result goes into the command.

use std::collections::{BTreeMap, BTreeSet};

/// A broker that can take replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: i32,
    pub rack: Option<String>,
}

/// Why replicas cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error(
        "Unable to replicate the partition {factor} time(s): The target replication factor of \
         {factor} cannot be reached because only {brokers} broker(s) are registered."
    )]
    NotEnoughBrokers { factor: i16, brokers: usize },
    #[error("Replication factor must be larger than 0: {0}.")]
    InvalidFactor(i16),
}

/// The replicas of partitions `first..first + count`, each `factor` brokers long, the first
/// of which leads. `start` and `shift` are the proposer's random choices.
pub fn place(
    brokers: &[Candidate],
    first: i32,
    count: i32,
    factor: i16,
    start: usize,
    shift: usize,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    if factor < 1 {
        return Err(PlacementError::InvalidFactor(factor));
    }
    let factor = factor as usize;
    if factor > brokers.len() {
        return Err(PlacementError::NotEnoughBrokers {
            factor: factor as i16,
            brokers: brokers.len(),
        });
    }
    let ordered = rack_alternating(brokers);
    let n = ordered.len();
    let racks: BTreeSet<Option<&str>> = ordered.iter().map(|b| b.rack.as_deref()).collect();
    let start = start % n;
    let mut shift = shift % n;
    let mut placed = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for partition in first.max(0)..first.max(0) + count {
        let partition = partition as usize;
        if partition > 0 && partition.is_multiple_of(n) {
            shift += 1;
        }
        let leader = (partition + start) % n;
        let mut replicas = vec![leader];
        let mut used_racks: BTreeSet<Option<&str>> = [ordered[leader].rack.as_deref()].into();
        let mut k = 0;
        while replicas.len() < factor {
            let candidate = if n == 1 {
                leader
            } else {
                (leader + 1 + (shift + k) % (n - 1)) % n
            };
            k += 1;
            let rack = ordered[candidate].rack.as_deref();
            let all_racks_used = used_racks.len() == racks.len();
            let rack_ok = all_racks_used || !used_racks.contains(&rack);
            // After a full turn without a fit, take any broker not chosen yet.
            if !replicas.contains(&candidate) && (rack_ok || k > n) {
                replicas.push(candidate);
                used_racks.insert(rack);
                if used_racks.len() == racks.len() {
                    used_racks.clear();
                    used_racks.extend(replicas.iter().map(|r| ordered[*r].rack.as_deref()));
                }
            }
        }
        placed.push(replicas.into_iter().map(|i| ordered[i].id).collect());
    }
    Ok(placed)
}

/// The brokers in Kafka's rack-alternating order: the first broker of each rack (racks by
/// name), then the second of each, ... Brokers without a rack form one rack of their own.
fn rack_alternating(brokers: &[Candidate]) -> Vec<Candidate> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<&Candidate>> = BTreeMap::new();
    for broker in brokers {
        by_rack
            .entry(broker.rack.as_deref())
            .or_default()
            .push(broker);
    }
    for members in by_rack.values_mut() {
        members.sort_by_key(|b| b.id);
    }
    let longest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| by_rack.values().filter_map(move |members| members.get(i)))
        .map(|b| (*b).clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(racks: &[(i32, Option<&str>)]) -> Vec<Candidate> {
        racks
            .iter()
            .map(|(id, rack)| Candidate {
                id: *id,
                rack: rack.map(str::to_owned),
            })
            .collect()
    }

    #[test]
    fn leaders_go_round_robin_and_every_partition_gets_distinct_replicas() {
        let five = brokers(&[(0, None), (1, None), (2, None), (3, None), (4, None)]);
        let placed = place(&five, 0, 10, 3, 0, 0).unwrap();
        // Kafka's documented example: 5 brokers, 10 partitions, factor 3, start 0, shift 0.
        assert_eq!(placed[0], [0, 1, 2]);
        assert_eq!(placed[1], [1, 2, 3]);
        assert_eq!(placed[4], [4, 0, 1]);
        assert_eq!(placed[5], [0, 2, 3]);
        assert_eq!(placed[9], [4, 1, 2]);
        let mut leaders = BTreeMap::new();
        for replicas in &placed {
            let distinct: BTreeSet<_> = replicas.iter().collect();
            assert_eq!(distinct.len(), 3, "{replicas:?}");
            *leaders.entry(replicas[0]).or_insert(0) += 1;
        }
        assert!(leaders.values().all(|count| *count == 2), "{leaders:?}");
    }

    #[test]
    fn replicas_spread_over_racks() {
        let racked = brokers(&[
            (0, Some("a")),
            (1, Some("a")),
            (2, Some("b")),
            (3, Some("b")),
            (4, Some("c")),
            (5, Some("c")),
        ]);
        for start in 0..6 {
            for shift in 0..6 {
                for replicas in place(&racked, 0, 12, 3, start, shift).unwrap() {
                    let racks: BTreeSet<_> = replicas.iter().map(|id| id / 2).collect();
                    assert_eq!(
                        racks.len(),
                        3,
                        "{replicas:?} (start {start}, shift {shift})"
                    );
                }
            }
        }
    }

    #[test]
    fn a_factor_above_the_brokers_or_below_one_is_refused_as_kafka_words_it() {
        let two = brokers(&[(1, None), (2, None)]);
        let error = place(&two, 0, 1, 3, 0, 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 \
             cannot be reached because only 2 broker(s) are registered."
        );
        assert_eq!(
            place(&two, 0, 1, 0, 0, 0).unwrap_err(),
            PlacementError::InvalidFactor(0)
        );
        assert_eq!(place(&two, 3, 2, 2, 1, 0).unwrap().len(), 2);
    }
}
