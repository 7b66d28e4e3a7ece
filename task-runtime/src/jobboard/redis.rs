//! `redis://host:port/db`: a jobboard in Redis.
//!
//! Every wait on the server is bounded: see [`RedisJobBoard`].
//!
//! Keys start with `taskwire:{board}:`: a hash per job (`job:{id}`), a list
//! of its failures (`failures:{id}`), and three sorted sets — `ready`
//! (ordered by priority, then by posting order), `claimed` (by claim expiry)
//! and `jobs` (every job, by posting order). Every change is one Lua script,
//! which Redis runs atomically: a claim takes an expired claim over (recording
//! the expiry as a failure) or pops the next ready job, and increments the
//! job's fencing token; a write under a claim checks owner and token in the
//! same script. Times come from the server's clock (`TIME`), so that
//! conductors with skewed clocks agree on expiry. The scripts name keys they
//! build themselves, so the board needs a single Redis server (not a cluster).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use redis::io::tcp::{socket2::TcpKeepalive, TcpSettings};
use redis::{Client, Connection, IntoConnectionInfo, Script};

use super::{
    describe_now, ttl_ms, Claim, Job, JobBoard, JobBoardError, JobFailure, JobState, NewJob,
    EXPIRED_TAIL,
};
use crate::persistence::{redact_url, Uuid};
use crate::state::FlowState;
use crate::url_options::{parse_duration, show_duration, take_options};

/// The URL query keys the board reads.
const KEYS: [&str; 3] = ["timeout", "connect_timeout", "keepalive"];

/// How long the board waits on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bounds {
    timeout: Duration,
    connect_timeout: Duration,
    keepalive: Duration,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(10),
        }
    }
}

/// The bounds set in `url`'s query, and the URL for the Redis client.
fn bounds(url: &str) -> Result<(String, Bounds), String> {
    let (rest, options) = take_options(url, &KEYS);
    let mut bounds = Bounds::default();
    for (key, value) in options {
        let d = parse_duration(&key, &value)?;
        match key.as_str() {
            "timeout" => bounds.timeout = d,
            "connect_timeout" => bounds.connect_timeout = d,
            _ => bounds.keepalive = d,
        }
    }
    Ok((rest, bounds))
}

/// A wait on the server that ran out.
#[derive(Debug, thiserror::Error)]
#[error("no answer from the server within {bound} (`{key}` in the URL); the connection was dropped and the next call connects again")]
struct NoAnswer {
    bound: String,
    key: &'static str,
    #[source]
    source: redis::RedisError,
}

/// Shared by the scripts: the server's clock in ms, and how a job is claimed.
const PRELUDE: &str = r#"
local p = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function ready_member(id)
  return string.format('%016x', tonumber(redis.call('HGET', p .. 'job:' .. id, 'seq'))) .. ':' .. id
end
local function add_failure(id, owner, token, message)
  local f = p .. 'failures:' .. id
  redis.call('RPUSH', f, cjson.encode({at = now, owner = owner, token = tonumber(token), message = message}))
  return redis.call('LLEN', f)
end
"#;

/// ARGV: prefix, id, spec, priority.
const POST: &str = r#"
local seq = redis.call('INCR', p .. 'seq')
local k = p .. 'job:' .. ARGV[2]
redis.call('HSET', k, 'spec', ARGV[3], 'state', 'ready', 'token', 0, 'expires', 0,
  'created', now, 'updated', now, 'seq', seq)
redis.call('ZADD', p .. 'ready', -tonumber(ARGV[4]), ready_member(ARGV[2]))
redis.call('ZADD', p .. 'jobs', seq, ARGV[2])
return 'ok'
"#;

/// ARGV: prefix, owner, ttl (ms), max failures of each job is in its spec,
/// the text after "(token N) " of an expiry failure.
const CLAIM: &str = r#"
while true do
  local id
  local expired = redis.call('ZRANGEBYSCORE', p .. 'claimed', '-inf', now, 'LIMIT', 0, 1)
  if #expired > 0 then
    id = expired[1]
    local k = p .. 'job:' .. id
    redis.call('ZREM', p .. 'claimed', id)
    local owner = redis.call('HGET', k, 'owner') or ''
    local token = redis.call('HGET', k, 'token')
    local n = add_failure(id, owner, token,
      'the claim of `' .. owner .. '` (token ' .. token .. ') ' .. ARGV[4])
    local max = cjson.decode(redis.call('HGET', k, 'spec'))['max_failures']
    if n >= max then
      redis.call('HSET', k, 'state', 'dead', 'expires', 0, 'updated', now)
      id = nil
    end
  else
    local ready = redis.call('ZRANGE', p .. 'ready', 0, 0)
    if #ready == 0 then return false end
    redis.call('ZREM', p .. 'ready', ready[1])
    id = string.sub(ready[1], 18)
  end
  if id then
    local k = p .. 'job:' .. id
    local token = redis.call('HINCRBY', k, 'token', 1)
    local expires = now + tonumber(ARGV[3])
    redis.call('HSET', k, 'state', 'claimed', 'owner', ARGV[2], 'expires', expires, 'updated', now)
    redis.call('ZADD', p .. 'claimed', expires, id)
    return {id, tostring(token), tostring(expires)}
  end
end
"#;

/// ARGV: prefix, id, owner, token, operation, argument, the text after
/// "(token N) " of an expiry failure.
/// Returns {'missing'}, {'lost', state, owner, token} or {'ok', value}.
const UNDER_CLAIM: &str = r#"
local id = ARGV[2]
local k = p .. 'job:' .. id
if redis.call('EXISTS', k) == 0 then return {'missing'} end
local state = redis.call('HGET', k, 'state')
local owner = redis.call('HGET', k, 'owner') or ''
local token = redis.call('HGET', k, 'token')
if state ~= 'claimed' or owner ~= ARGV[3] or token ~= ARGV[4] then
  return {'lost', state, owner, token}
end
local op = ARGV[5]
local function give_back(to)
  redis.call('ZREM', p .. 'claimed', id)
  redis.call('HSET', k, 'state', to, 'expires', 0, 'updated', now)
  if to == 'ready' then
    local spec = cjson.decode(redis.call('HGET', k, 'spec'))
    redis.call('ZADD', p .. 'ready', -spec['priority'], ready_member(id))
  end
end
if op == 'renew' then
  local expires = now + tonumber(ARGV[6])
  redis.call('HSET', k, 'expires', expires)
  redis.call('ZADD', p .. 'claimed', expires, id)
  return {'ok', tostring(expires)}
elseif op == 'flow' then
  redis.call('HSET', k, 'flow', ARGV[6], 'updated', now)
elseif op == 'complete' then
  redis.call('HSET', k, 'outcome', ARGV[6])
  give_back('done')
elseif op == 'complete_ended' then
  -- Withdraw the expiry failure that taking the job over recorded.
  local f = p .. 'failures:' .. id
  local last = redis.call('LINDEX', f, -1)
  if last then
    local d = cjson.decode(last)
    local tail = ARGV[7]
    if d['token'] == tonumber(token) - 1 and string.sub(d['message'], -string.len(tail)) == tail then
      redis.call('RPOP', f)
    end
  end
  redis.call('HSET', k, 'outcome', ARGV[6])
  give_back('done')
elseif op == 'fail' then
  local n = add_failure(id, owner, token, ARGV[6])
  local max = cjson.decode(redis.call('HGET', k, 'spec'))['max_failures']
  if n >= max then give_back('dead') return {'ok', 'dead'} end
  give_back('ready')
  return {'ok', 'ready'}
elseif op == 'release' then
  give_back('ready')
end
return {'ok', ''}
"#;

/// ARGV: prefix, id.
/// ARGV: prefix, id, then the states it may be in (none: any). Returns
/// 'missing', the job's state if it is not one of them, or 'ok' once deleted.
const DELETE: &str = r#"
local id = ARGV[2]
local k = p .. 'job:' .. id
if redis.call('EXISTS', k) == 0 then return 'missing' end
if #ARGV > 2 then
  local state = redis.call('HGET', k, 'state')
  local allowed = false
  for i = 3, #ARGV do
    if ARGV[i] == state then allowed = true end
  end
  if not allowed then return state end
end
redis.call('ZREM', p .. 'ready', ready_member(id))
redis.call('ZREM', p .. 'claimed', id)
redis.call('ZREM', p .. 'jobs', id)
redis.call('DEL', k, p .. 'failures:' .. id)
return 'ok'
"#;

/// ARGV: prefix, id. Returns 'missing', the job's state if it is not dead,
/// or 'ok' once it is ready again.
const REQUEUE: &str = r#"
local id = ARGV[2]
local k = p .. 'job:' .. id
if redis.call('EXISTS', k) == 0 then return 'missing' end
local state = redis.call('HGET', k, 'state')
if state ~= 'dead' then return state end
redis.call('DEL', p .. 'failures:' .. id)
redis.call('HDEL', k, 'outcome')
redis.call('HSET', k, 'state', 'ready', 'expires', 0, 'updated', now)
local spec = cjson.decode(redis.call('HGET', k, 'spec'))
redis.call('ZADD', p .. 'ready', -spec['priority'], ready_member(id))
return 'ok'
"#;

/// A jobboard in Redis (`redis://…`).
///
/// **Bounded waits.** Every wait on the server is bounded, so that a server
/// that stops answering (paused, cut off by the network) becomes the board's
/// error instead of a hang. The URL's query sets the bounds (the keys are
/// taken off before the URL goes to the Redis client; others are left to it):
///
/// | key               | default | what it bounds                                   |
/// |-------------------|---------|--------------------------------------------------|
/// | `timeout`         | 10 s    | each command: sending it and reading its answer (also `TCP_USER_TIMEOUT`) |
/// | `connect_timeout` | 5 s     | connecting, and each answer of the handshake (`AUTH`, then `SELECT` if the database is not 0) |
/// | `keepalive`       | 10 s    | idle time before TCP keepalive probes (every third of it, 3 probes) |
///
/// Durations are written `500ms`, `5s`, `1m` or whole seconds:
/// `redis://127.0.0.1/0?timeout=2s&connect_timeout=1s`. A value that is not
/// one is refused by [`RedisJobBoard::open`] with an error naming the key and
/// the value. A command without an answer within `timeout` fails with a
/// transient [`JobBoardError::Backend`] naming the operation, the bound and
/// the server (password removed); its connection is dropped (a late answer
/// must not be read as the next command's), and the next call connects again,
/// so that the board works again on the same handle once the server is back.
/// A write whose answer was lost may have been applied: callers that try it
/// again must expect [`JobBoardError::Lost`] from their own earlier success
/// (the conductor checks for that).
pub struct RedisJobBoard {
    describe: String,
    prefix: String,
    client: Client,
    bounds: Bounds,
    conn: Mutex<Option<Connection>>,
    post: Script,
    claim: Script,
    under_claim: Script,
    delete: Script,
    requeue: Script,
}

impl std::fmt::Debug for RedisJobBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisJobBoard")
            .field("board", &self.describe)
            .finish_non_exhaustive()
    }
}

impl RedisJobBoard {
    /// Connects to `redis://[user:password@]host[:port][/db][?timeout=…]`
    /// (the bounds are in the [type's documentation](RedisJobBoard)); the
    /// board's keys start with `taskwire:{board}:`.
    pub fn open(url: &str, board: &str) -> Result<RedisJobBoard, JobBoardError> {
        let shown = redact_url(url);
        let invalid = |reason: String| JobBoardError::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        let (rest, bounds) = bounds(url).map_err(invalid)?;
        let keepalive = TcpKeepalive::new()
            .with_time(bounds.keepalive)
            .with_interval((bounds.keepalive / 3).max(Duration::from_secs(1)))
            .with_retries(3);
        let tcp = TcpSettings::default()
            .set_nodelay(true)
            .set_keepalive(keepalive)
            .set_user_timeout(bounds.timeout);
        let info = rest
            .as_str()
            .into_connection_info()
            .map_err(|e| invalid(e.to_string()))?
            .set_tcp_settings(tcp);
        // The client bounds each answer of its handshake by the connect
        // timeout; without `CLIENT SETINFO` (the library's name and version,
        // two more round trips) the handshake is `AUTH` and `SELECT` at most.
        let redis_info = info.redis_settings().clone().set_skip_set_lib_name();
        let info = info.set_redis_settings(redis_info);
        let client = Client::open(info).map_err(|e| invalid(e.to_string()))?;
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        let this = RedisJobBoard {
            describe: format!("jobboard `{board}` at {shown}"),
            prefix: format!("taskwire:{board}:"),
            client,
            bounds,
            conn: Mutex::new(None),
            post: script(POST),
            claim: script(CLAIM),
            under_claim: script(UNDER_CLAIM),
            delete: script(DELETE),
            requeue: script(REQUEUE),
        };
        this.with("connect", |c| redis::cmd("PING").query::<String>(c))?;
        Ok(this)
    }

    /// Deletes every key of this board (its jobs and their failures).
    pub fn purge(&self) -> Result<(), JobBoardError> {
        let pattern = format!("{}*", self.prefix);
        let mut cursor: u64 = 0;
        loop {
            // SCAN, not KEYS: the server stays responsive on a large database.
            let (next, keys): (u64, Vec<String>) = self.with("list the board's keys", |c| {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query(c)
            })?;
            if !keys.is_empty() {
                self.with("delete the board's keys", |c| {
                    redis::cmd("DEL").arg(&keys).query::<i64>(c)
                })?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Runs `f` on the connection (connecting first if needed); a connection
    /// that broke is dropped, so that the next call reconnects.
    fn with<T>(
        &self,
        operation: &str,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, JobBoardError> {
        let mut guard: MutexGuard<'_, Option<Connection>> =
            self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = match &mut *guard {
            Some(conn) => conn,
            None => {
                let connect = format!("connect (to {operation})");
                let conn = self
                    .client
                    .get_connection_with_timeout(self.bounds.connect_timeout)
                    .map_err(|e| self.error(&connect, "connect_timeout", e))?;
                let timeout = Some(self.bounds.timeout);
                conn.set_read_timeout(timeout)
                    .and_then(|()| conn.set_write_timeout(timeout))
                    .map_err(|e| self.error(&connect, "timeout", e))?;
                guard.insert(conn)
            }
        };
        match f(conn) {
            Ok(value) => Ok(value),
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                    *guard = None;
                }
                Err(self.error(operation, "timeout", e))
            }
        }
    }

    /// The board's error for `e`; a timeout names its bound, the URL key
    /// `key`.
    fn error(&self, operation: &str, key: &'static str, e: redis::RedisError) -> JobBoardError {
        // The connection's failures, and the server's "not now": loading its
        // data after a restart, a replica during a failover, try again.
        let transient = e.is_io_error()
            || e.is_connection_dropped()
            || e.is_timeout()
            || matches!(
                e.kind(),
                redis::ErrorKind::Server(
                    redis::ServerErrorKind::BusyLoading
                        | redis::ServerErrorKind::TryAgain
                        | redis::ServerErrorKind::MasterDown
                        | redis::ServerErrorKind::ReadOnly
                )
            );
        let source: crate::persistence::DriverError = if e.is_timeout() {
            let bound = match key {
                "connect_timeout" => self.bounds.connect_timeout,
                _ => self.bounds.timeout,
            };
            Box::new(NoAnswer {
                bound: show_duration(bound),
                key,
                source: e,
            })
        } else {
            Box::new(e)
        };
        JobBoardError::Backend {
            board: self.describe.clone(),
            operation: operation.to_owned(),
            source,
            transient,
        }
    }

    /// Deletes job `id` if it is in one of `states` (any state if none).
    fn delete_in(&self, op: &str, id: Uuid, states: &[JobState]) -> Result<(), JobBoardError> {
        let answer: String = self.with(op, |c| {
            let mut call = self.delete.prepare_invoke();
            call.arg(&self.prefix).arg(id.to_string());
            for state in states {
                call.arg(state.as_str());
            }
            call.invoke(c)
        })?;
        match answer.as_str() {
            "ok" => Ok(()),
            "missing" => Err(JobBoardError::NotFound {
                board: self.describe.clone(),
                job: id,
            }),
            state => Err(JobBoardError::NotCancelled {
                board: self.describe.clone(),
                job: id,
                state: JobState::from_name(state)
                    .ok_or_else(|| self.corrupt(&id.to_string(), "state", state))?,
                allowed: super::states_in_words(states),
            }),
        }
    }

    fn corrupt(&self, job: &str, field: &'static str, reason: impl ToString) -> JobBoardError {
        JobBoardError::Corrupt {
            board: self.describe.clone(),
            job: job.to_owned(),
            field,
            reason: reason.to_string(),
        }
    }

    /// Runs a write under `claim`; gives the script's value.
    fn under(
        &self,
        claim: &Claim,
        op: &'static str,
        what: &str,
        arg: &str,
    ) -> Result<String, JobBoardError> {
        let reply: Vec<String> = self.with(what, |c| {
            self.under_claim
                .arg(&self.prefix)
                .arg(claim.job.id.to_string())
                .arg(&claim.owner)
                .arg(claim.token)
                .arg(op)
                .arg(arg)
                .arg(EXPIRED_TAIL)
                .invoke(c)
        })?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(reply.get(1).cloned().unwrap_or_default()),
            Some("missing") => Err(JobBoardError::NotFound {
                board: self.describe.clone(),
                job: claim.job.id,
            }),
            _ => {
                let state = reply
                    .get(1)
                    .and_then(|s| JobState::from_name(s))
                    .unwrap_or(JobState::Ready);
                let owner = reply.get(2).filter(|o| !o.is_empty()).map(String::as_str);
                let token = reply.get(3).and_then(|t| t.parse().ok()).unwrap_or(0);
                Err(JobBoardError::Lost {
                    board: self.describe.clone(),
                    job: claim.job.id,
                    owner: claim.owner.clone(),
                    token: claim.token,
                    now: describe_now(state, owner, token),
                })
            }
        }
    }

    /// Reads jobs by id, skipping ids whose hash is gone.
    fn read(&self, ids: &[String], what: &str) -> Result<Vec<Job>, JobBoardError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HGETALL").arg(format!("{}job:{id}", self.prefix));
            pipe.cmd("LRANGE")
                .arg(format!("{}failures:{id}", self.prefix))
                .arg(0)
                .arg(-1);
        }
        let replies: Vec<redis::Value> = self.with(what, |c| pipe.query(c))?;
        let mut jobs = Vec::with_capacity(ids.len());
        for (id, pair) in ids.iter().zip(replies.chunks(2)) {
            let fields: HashMap<String, String> =
                redis::from_redis_value_ref(&pair[0]).map_err(|e| self.corrupt(id, "(hash)", e))?;
            if fields.is_empty() {
                continue;
            }
            let failures: Vec<String> = redis::from_redis_value_ref(&pair[1])
                .map_err(|e| self.corrupt(id, "failures", e))?;
            jobs.push(self.decode(id, &fields, &failures)?);
        }
        Ok(jobs)
    }

    fn decode(
        &self,
        id: &str,
        fields: &HashMap<String, String>,
        failures: &[String],
    ) -> Result<Job, JobBoardError> {
        let field = |name: &'static str| -> Result<&str, JobBoardError> {
            fields
                .get(name)
                .map(String::as_str)
                .ok_or_else(|| self.corrupt(id, name, "missing"))
        };
        let int = |name: &'static str| -> Result<i64, JobBoardError> {
            field(name)?.parse().map_err(|e| self.corrupt(id, name, e))
        };
        let state = JobState::from_name(field("state")?).ok_or_else(|| {
            self.corrupt(id, "state", format!("unknown state `{}`", fields["state"]))
        })?;
        let spec: NewJob =
            serde_json::from_str(field("spec")?).map_err(|e| self.corrupt(id, "spec", e))?;
        let flow = match fields.get("flow") {
            Some(f) => Some(f.parse().map_err(|e| self.corrupt(id, "flow", e))?),
            None => None,
        };
        let outcome =
            match fields.get("outcome") {
                Some(o) => Some(FlowState::from_name(o).ok_or_else(|| {
                    self.corrupt(id, "outcome", format!("unknown flow state `{o}`"))
                })?),
                None => None,
            };
        let failures = failures
            .iter()
            .map(|f| serde_json::from_str::<JobFailure>(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.corrupt(id, "failures", e))?;
        Ok(Job {
            id: id.parse().map_err(|e| self.corrupt(id, "id", e))?,
            spec,
            state,
            owner: fields.get("owner").filter(|o| !o.is_empty()).cloned(),
            token: int("token")? as u64,
            expires_at: int("expires")?,
            flow,
            failures,
            outcome,
            created_at: int("created")?,
            updated_at: int("updated")?,
        })
    }
}

impl JobBoard for RedisJobBoard {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn post(&self, new: &NewJob) -> Result<Job, JobBoardError> {
        let id = Uuid::new_v4();
        let spec =
            serde_json::to_string(new).map_err(|e| self.corrupt(&id.to_string(), "spec", e))?;
        self.with("post a job", |c| {
            self.post
                .arg(&self.prefix)
                .arg(id.to_string())
                .arg(&spec)
                .arg(new.priority)
                .invoke::<String>(c)
        })?;
        self.get(id)
    }

    fn claim(&self, owner: &str, ttl: Duration) -> Result<Option<Claim>, JobBoardError> {
        let reply: Option<Vec<String>> = self.with("claim a job", |c| {
            self.claim
                .arg(&self.prefix)
                .arg(owner)
                .arg(ttl_ms(ttl))
                .arg(EXPIRED_TAIL)
                .invoke(c)
        })?;
        let Some(reply) = reply else { return Ok(None) };
        let [id, token, expires] = &reply[..] else {
            return Err(self.corrupt("?", "(claim reply)", format!("{reply:?}")));
        };
        let id: Uuid = id.parse().map_err(|e| self.corrupt(id, "id", e))?;
        let job = self.get(id)?;
        Ok(Some(Claim {
            job,
            owner: owner.to_owned(),
            token: token
                .parse()
                .map_err(|e| self.corrupt(&id.to_string(), "token", e))?,
            expires_at: expires
                .parse()
                .map_err(|e| self.corrupt(&id.to_string(), "expires", e))?,
        }))
    }

    fn renew(&self, claim: &Claim, ttl: Duration) -> Result<Claim, JobBoardError> {
        let expires = self.under(claim, "renew", "renew a claim", &ttl_ms(ttl).to_string())?;
        let expires_at: i64 = expires
            .parse()
            .map_err(|e| self.corrupt(&claim.job.id.to_string(), "expires", e))?;
        let mut renewed = claim.clone();
        renewed.expires_at = expires_at;
        renewed.job.expires_at = expires_at;
        Ok(renewed)
    }

    fn set_flow(&self, claim: &Claim, flow: Uuid) -> Result<(), JobBoardError> {
        self.under(
            claim,
            "flow",
            "record the job's flow detail",
            &flow.to_string(),
        )
        .map(drop)
    }

    fn complete(&self, claim: &Claim, outcome: FlowState) -> Result<(), JobBoardError> {
        self.under(claim, "complete", "complete a job", outcome.as_str())
            .map(drop)
    }

    fn complete_ended(&self, claim: &Claim, outcome: FlowState) -> Result<(), JobBoardError> {
        self.under(
            claim,
            "complete_ended",
            "complete a job whose flow had ended",
            outcome.as_str(),
        )
        .map(drop)
    }

    fn fail(&self, claim: &Claim, message: &str) -> Result<JobState, JobBoardError> {
        let state = self.under(claim, "fail", "record a job's failure", message)?;
        JobState::from_name(&state)
            .ok_or_else(|| self.corrupt(&claim.job.id.to_string(), "state", state))
    }

    fn release(&self, claim: &Claim) -> Result<(), JobBoardError> {
        self.under(claim, "release", "release a claim", "")
            .map(drop)
    }

    fn get(&self, id: Uuid) -> Result<Job, JobBoardError> {
        self.read(&[id.to_string()], "read a job")?
            .pop()
            .ok_or(JobBoardError::NotFound {
                board: self.describe.clone(),
                job: id,
            })
    }

    fn list(&self, state: Option<JobState>) -> Result<Vec<Job>, JobBoardError> {
        let ids: Vec<String> = self.with("list jobs", |c| {
            redis::cmd("ZRANGE")
                .arg(format!("{}jobs", self.prefix))
                .arg(0)
                .arg(-1)
                .query(c)
        })?;
        let mut jobs = self.read(&ids, "list jobs")?;
        jobs.retain(|j| state.is_none_or(|s| j.state == s));
        Ok(jobs)
    }

    fn requeue(&self, id: Uuid) -> Result<Job, JobBoardError> {
        let before = self.get(id)?;
        let answer: String = self.with("requeue a job", |c| {
            self.requeue.arg(&self.prefix).arg(id.to_string()).invoke(c)
        })?;
        match answer.as_str() {
            "ok" => Ok(before),
            "missing" => Err(JobBoardError::NotFound {
                board: self.describe.clone(),
                job: id,
            }),
            state => Err(JobBoardError::NotDead {
                board: self.describe.clone(),
                job: id,
                state: JobState::from_name(state)
                    .ok_or_else(|| self.corrupt(&id.to_string(), "state", state))?,
            }),
        }
    }

    fn delete(&self, id: Uuid) -> Result<(), JobBoardError> {
        self.delete_in("delete a job", id, &[])
    }

    fn cancel(&self, id: Uuid, states: &[JobState]) -> Result<Job, JobBoardError> {
        let before = self.get(id)?;
        if states.is_empty() {
            return Err(JobBoardError::NotCancelled {
                board: self.describe.clone(),
                job: id,
                state: before.state,
                allowed: super::states_in_words(states),
            });
        }
        self.delete_in("cancel a job", id, states)?;
        Ok(before)
    }
}
