//! The controller of the simulation: fences, unfences and changes the ISR by
//! `cluster::leadership`'s rules, and tells every broker (each message may be late or lost).

use super::{CONTROLLER, Msg, Sim};
use crate::cluster::leadership;

impl Sim {
    pub(super) fn live(&self) -> impl Fn(i32) -> bool + '_ {
        |id| !self.fenced.contains(&id)
    }

    pub(super) fn controller_receive(&mut self, from: i32, msg: Msg) {
        match msg {
            Msg::SessionExpired { incarnation }
                if self.incarnations.get(&from) == Some(&incarnation)
                    && self.fenced.insert(from) =>
            {
                let fenced = self.fenced.clone();
                leadership::fence(
                    &mut self.controller,
                    from,
                    |id| !fenced.contains(&id),
                    false,
                );
                self.broadcast();
            }
            Msg::Heartbeat { incarnation } => {
                let known = self.incarnations.insert(from, incarnation);
                if known != Some(incarnation) && self.fenced.insert(from) {
                    // A new incarnation registers: its old one's leaderships end first.
                    let fenced = self.fenced.clone();
                    leadership::fence(
                        &mut self.controller,
                        from,
                        |id| !fenced.contains(&id),
                        false,
                    );
                }
                if self.fenced.remove(&from) {
                    leadership::unfence(&mut self.controller, from, false);
                    self.broadcast();
                } else {
                    self.send(CONTROLLER, from, Msg::Assignment(self.controller.clone()));
                }
            }
            Msg::AlterIsr {
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                let mut assignment = self.controller.clone();
                let accepted = leadership::alter_isr(
                    &mut assignment,
                    from,
                    leader_epoch,
                    partition_epoch,
                    &isr,
                    self.live(),
                )
                .is_ok();
                if accepted {
                    self.controller = assignment;
                    self.broadcast();
                }
                self.send(
                    CONTROLLER,
                    from,
                    Msg::AlterIsrReply {
                        leader_epoch,
                        accepted,
                    },
                );
            }
            _ => {}
        }
    }
}
