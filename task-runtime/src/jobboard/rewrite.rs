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

/// What came of trying to claim a job read as ready, or as held under an
/// expired claim.
pub(crate) enum Took {
    /// Claimed.
    Claim(Box<Claim>),
    /// Its expired claim was its last chance: it was written dead.
    Buried,
    /// Another writer changed it first: nothing was written.
    Lost,
}

/// What claiming `read` (ready, or held under an expired claim) for `owner`
/// at `now` writes: the job claimed, or (`false`) the job dead, when the
/// expiry was its last failure.
pub(crate) fn taken(read: &Job, owner: &str, ttl: Duration, now: i64) -> (Job, bool) {
    let mut job = read.clone();
    job.updated_at = now;
    if job.state == JobState::Claimed && job.record_expiry(now) == JobState::Dead {
        job.end_claim(JobState::Dead, None);
        return (job, false);
    }
    job.state = JobState::Claimed;
    job.owner = Some(owner.to_owned());
    job.token += 1;
    job.expires_at = now.saturating_add(super::ttl_ms(ttl));
    (job, true)
}

/// What a board reports once it wrote (`written`) or failed to write the
/// job [`taken`] made, for `owner`.
pub(crate) fn took(job: Job, claimed: bool, written: bool, owner: &str) -> Took {
    match (written, claimed) {
        (false, _) => Took::Lost,
        (true, false) => Took::Buried,
        (true, true) => Took::Claim(Box::new(Claim {
            owner: owner.to_owned(),
            token: job.token,
            expires_at: job.expires_at,
            job,
        })),
    }
}
