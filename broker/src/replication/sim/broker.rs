//! A broker of the simulation: leads or follows as it hears, answers fetches as a leader
//! (divergence first, then records), and applies the answers as a follower.

use super::{
    Fetched, LeaderProgress, MAX_FETCH, Msg, PartitionAssignment, Sim, diverging, truncation_offset,
};

impl Sim {
    pub(super) fn apply_view(&mut self, id: i32, assignment: PartitionAssignment) {
        let now = self.now as i64;
        let counts = self.counts;
        let node = self.node(id);
        if assignment.partition_epoch < node.view.partition_epoch {
            return; // older than what it knows
        }
        let same_epoch = assignment.leader_epoch == node.view.leader_epoch;
        node.view = assignment.clone();
        if assignment.leader != id || assignment.leader_epoch <= node.restarted_after_epoch {
            node.leading = None;
            return;
        }
        match &mut node.leading {
            Some(progress) if same_epoch => {
                progress.committed(&assignment.isr, assignment.partition_epoch)
            }
            _ => {
                let log_end = node.log_end();
                node.assign_epoch(assignment.leader_epoch, log_end);
                node.leading = Some(LeaderProgress::new(
                    id,
                    &assignment.replicas,
                    &assignment.isr,
                    assignment.partition_epoch,
                    counts,
                    log_end,
                    node.high_watermark.min(log_end),
                    now,
                ));
                let previous = self.leaders.insert(assignment.leader_epoch, id);
                assert!(
                    previous.is_none_or(|p| p == id),
                    "two leaders at epoch {}: {previous:?} and {id}",
                    assignment.leader_epoch
                );
                self.check_has_acked(id);
            }
        }
    }

    pub(super) fn check_has_acked(&self, id: i32) {
        let node = &self.nodes[(id - 1) as usize];
        for (offset, (value, epoch)) in &self.acked {
            if *epoch < node.view.leader_epoch {
                assert_eq!(
                    node.log.get(*offset as usize).map(|r| r.value),
                    Some(*value),
                    "broker {id} leads epoch {} without the record acknowledged at offset {offset}",
                    node.view.leader_epoch
                );
            }
        }
    }

    pub(super) fn receive(&mut self, from: i32, to: i32, msg: Msg) {
        let now = self.now as i64;
        match msg {
            Msg::Assignment(assignment) => self.apply_view(to, assignment),
            Msg::Fetch {
                incarnation,
                leader_epoch,
                fetch_offset,
                last_epoch,
                durable,
            } => {
                let node = self.node(to);
                let leading_here = node.leading.is_some() && node.view.leader_epoch == leader_epoch;
                let diverged = diverging(&node.epochs, node.log_end(), last_epoch, fetch_offset);
                let fetched = if !leading_here {
                    Fetched::Refused
                } else if let Some(end) = diverged {
                    Fetched::Diverging(end)
                } else if fetch_offset > node.log_end() {
                    Fetched::Refused // OFFSET_OUT_OF_RANGE: cannot happen after the check above
                } else {
                    let log_end = node.log_end();
                    let durable_end = node.durable as i64;
                    let progress = node.leading.as_mut().expect("leading");
                    progress.on_fetch(
                        from,
                        u64::from(incarnation),
                        fetch_offset,
                        durable,
                        log_end,
                        now,
                    );
                    if let Some(hw) = progress.advance(log_end, durable_end) {
                        node.high_watermark = hw;
                    }
                    let start = fetch_offset as usize;
                    let end = (start + MAX_FETCH).min(node.log.len());
                    Fetched::Records {
                        records: node.log[start..end].to_vec(),
                        high_watermark: node.high_watermark,
                    }
                };
                self.send(
                    to,
                    from,
                    Msg::FetchReply {
                        leader_epoch,
                        fetch_offset,
                        fetched,
                    },
                );
            }
            Msg::FetchReply {
                leader_epoch,
                fetch_offset,
                fetched,
            } => {
                let node = self.node(to);
                node.fetching = None;
                if node.view.leader_epoch != leader_epoch
                    || node.leading.is_some()
                    || fetch_offset != node.log_end()
                {
                    return;
                }
                match fetched {
                    Fetched::Refused => {}
                    Fetched::Diverging(end) => {
                        let cut = truncation_offset(&node.epochs, node.log_end(), end);
                        node.truncate(cut);
                    }
                    Fetched::Records {
                        records,
                        high_watermark,
                    } => {
                        for record in records {
                            let offset = node.log_end();
                            node.assign_epoch(record.epoch, offset);
                            node.log.push(record);
                        }
                        node.high_watermark =
                            node.high_watermark.max(high_watermark.min(node.log_end()));
                    }
                }
            }
            Msg::AlterIsrReply {
                leader_epoch,
                accepted,
            } => {
                let node = self.node(to);
                if node.view.leader_epoch == leader_epoch
                    && !accepted
                    && let Some(progress) = &mut node.leading
                {
                    progress.refused();
                }
            }
            _ => {}
        }
    }
}
