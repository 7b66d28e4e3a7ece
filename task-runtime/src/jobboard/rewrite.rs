//! The claim operations of the boards that change a job by reading it and
//! writing it back, the write checked against the version read (ZooKeeper's
//! znode versions, etcd's `mod_revision`).
//!
//! Each board gives [`Rewrite::under`]; what a renewal, a completion, a
//! failure or a release does to the job is written once, here.

use std::time::Duration;

use super::{Claim, Job, JobBoardError, JobState};
use crate::persistence::Uuid;
use crate::state::FlowState;

/// A board that changes a claimed job by reading it, changing it and writing
/// it back.
pub(crate) trait Rewrite {
    /// Changes the job under `claim` with `change` (given the job and the
    /// board's time, unix ms), which returns what the call returns. Fails
    /// with [`JobBoardError::Lost`] when `claim` is no longer the job's;
    /// reads again while other writers win.
    fn under<T>(
        &self,
        operation: &str,
        claim: &Claim,
        change: impl Fn(&mut Job, i64) -> T,
    ) -> Result<T, JobBoardError>;
}

/// [`JobBoard::renew`](super::JobBoard::renew).
pub(crate) fn renew(
    board: &impl Rewrite,
    claim: &Claim,
    ttl: Duration,
) -> Result<Claim, JobBoardError> {
    let expires_at = board.under("renew a claim", claim, |job, now| {
        job.expires_at = now.saturating_add(super::ttl_ms(ttl));
        job.expires_at
    })?;
    let mut renewed = claim.clone();
    renewed.expires_at = expires_at;
    renewed.job.expires_at = expires_at;
    Ok(renewed)
}

/// [`JobBoard::set_flow`](super::JobBoard::set_flow).
pub(crate) fn set_flow(
    board: &impl Rewrite,
    claim: &Claim,
    flow: Uuid,
) -> Result<(), JobBoardError> {
    board.under("record the job's flow detail", claim, |job, _| {
        job.flow = Some(flow)
    })
}

/// [`JobBoard::complete`](super::JobBoard::complete).
pub(crate) fn complete(
    board: &impl Rewrite,
    claim: &Claim,
    outcome: FlowState,
) -> Result<(), JobBoardError> {
    board.under("complete a job", claim, |job, _| {
        job.end_claim(JobState::Done, Some(outcome))
    })
}

/// [`JobBoard::complete_ended`](super::JobBoard::complete_ended).
pub(crate) fn complete_ended(
    board: &impl Rewrite,
    claim: &Claim,
    outcome: FlowState,
) -> Result<(), JobBoardError> {
    board.under("complete a job whose flow had ended", claim, |job, _| {
        job.forget_expiry_before(claim);
        job.end_claim(JobState::Done, Some(outcome))
    })
}

/// [`JobBoard::fail`](super::JobBoard::fail).
pub(crate) fn fail(
    board: &impl Rewrite,
    claim: &Claim,
    message: &str,
) -> Result<JobState, JobBoardError> {
    board.under("record a job's failure", claim, |job, now| {
        let state = job.record_failure(claim.failure(now, message));
        job.end_claim(state, None);
        state
    })
}

/// [`JobBoard::release`](super::JobBoard::release).
pub(crate) fn release(board: &impl Rewrite, claim: &Claim) -> Result<(), JobBoardError> {
    board.under("release a claim", claim, |job, _| {
        job.end_claim(JobState::Ready, None)
    })
}
