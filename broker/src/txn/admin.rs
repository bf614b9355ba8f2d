//! The KIP-664 views of the coordinator's state: DescribeTransactions for given ids and
//! ListTransactions with its filters. State names are Kafka's (`Ongoing`, `PrepareCommit`...);
//! an id being expired (Dead) is not shown.

use super::coordinator::Ownership;
use super::metadata::TxnState;
use super::{TxnCoordinator, TxnError};

/// One transactional id, as DescribeTransactions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnDescription {
    pub transactional_id: String,
    pub state: &'static str,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub start_timestamp_ms: i64,
    /// The transaction's partitions by topic, both in order.
    pub topics: Vec<(String, Vec<i32>)>,
}

/// ListTransactions' filters; an empty list does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub states: Vec<String>,
    pub producer_ids: Vec<i64>,
    /// v1: only transactions running longer than this (ms); negative: all.
    pub duration_ms: i64,
}

/// One transactional id, as ListTransactions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnListing {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: &'static str,
}

/// ListTransactions' answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnList {
    /// State filters that name no state.
    pub unknown_state_filters: Vec<String>,
    /// In transactional id order.
    pub transactions: Vec<TxnListing>,
}

impl TxnCoordinator {
    /// DescribeTransactions for one id.
    pub fn describe(&self, transactional_id: &str) -> Result<TxnDescription, TxnError> {
        if transactional_id.is_empty() {
            return Err(TxnError::InvalidRequest("the transactional id is empty"));
        }
        self.owner(transactional_id)?;
        let entry = self
            .txns
            .get(transactional_id)
            .ok_or(TxnError::TransactionalIdNotFound)?;
        let meta = &entry.meta;
        if meta.state == TxnState::Dead {
            return Err(TxnError::TransactionalIdNotFound);
        }
        let mut topics: Vec<(String, Vec<i32>)> = Vec::new();
        for tp in &meta.partitions {
            match topics.last_mut() {
                Some((topic, partitions)) if *topic == tp.topic => partitions.push(tp.partition),
                _ => topics.push((tp.topic.clone(), vec![tp.partition])),
            }
        }
        Ok(TxnDescription {
            transactional_id: transactional_id.to_owned(),
            state: meta.state.name(),
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            timeout_ms: meta.timeout_ms,
            start_timestamp_ms: meta.start_timestamp_ms,
            topics,
        })
    }

    /// ListTransactions over every id this coordinator holds; COORDINATOR_LOAD_IN_PROGRESS
    /// while any partition is loading.
    pub fn list(&self, filter: &ListFilter, now_ms: i64) -> Result<TxnList, TxnError> {
        if self
            .owned
            .values()
            .any(|o| matches!(o, Ownership::Loading(_)))
        {
            return Err(TxnError::CoordinatorLoadInProgress);
        }
        let mut list = TxnList::default();
        let mut states = Vec::new();
        for name in &filter.states {
            match TxnState::from_name(name) {
                Some(state) => states.push(state),
                None => list.unknown_state_filters.push(name.clone()),
            }
        }
        for (id, entry) in &self.txns {
            let meta = &entry.meta;
            let included = meta.state != TxnState::Dead
                && (filter.producer_ids.is_empty()
                    || filter.producer_ids.contains(&meta.producer_id))
                && (filter.states.is_empty() || states.contains(&meta.state))
                && (filter.duration_ms < 0
                    || now_ms - meta.start_timestamp_ms > filter.duration_ms);
            if included {
                list.transactions.push(TxnListing {
                    transactional_id: id.clone(),
                    producer_id: meta.producer_id,
                    state: meta.state.name(),
                });
            }
        }
        Ok(list)
    }
}
