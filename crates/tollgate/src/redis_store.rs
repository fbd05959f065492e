//! [`RedisStore`]: the shared pace and budget in Redis (cargo feature `redis`), for clients in
//! many processes and machines. Every operation is one Lua script, so it is atomic; time is the
//! Redis server's (`TIME`), so the workers' clocks do not matter.
//!
//! Keys, per provider and key fingerprint (a hash tag keeps them in one cluster slot):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `tollgate:{p:f}:tat` | string | GCRA: the next request's theoretical arrival time (µs) |
//! | `tollgate:{p:f}:pause` | string | every request held until this time (µs) |
//! | `tollgate:{p:f}:budget` | hash | `charged`, `refunded`, `uncertain`, `reserved` |
//! | `tollgate:{p:f}:leases` | sorted set | live leases by the time they end |
//! | `tollgate:{p:f}:amounts` | hash | each lease's amount (`x<amount>` once it ended unsettled) |
//! | `tollgate:{p:f}:day:<YYYY-MM-DD>` | hash | that day's `charged`, `refunded`, `uncertain` |
//!
//! A budget of one credit type, or one that renews, has keys of its own, `tollgate:{p:f}:<type
//! or all>:<period>:budget` and so on (the pace stays the key's). A renewing budget's hash keeps
//! the number of the `window` its totals count (days or months since the epoch, from Redis's
//! `TIME`): the first script that runs in a new period starts its totals from zero (leases in
//! flight stay reserved and settle in the new period).
//!
//! Nothing secret is written: `p` is the provider, `f` a keyed hash of the API key.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::shared::{
    Admission, Claim, Pace, Reserved, Scope, Settlement, SharedTotals, Store, StoreError,
    StoreFuture,
};

/// Ends the leases whose time is up: each amount moves from reserved to possibly charged.
/// Needs `now`, KEYS[1..4] = budget, leases, amounts, day.
const SWEEP: &str = r"
local ended = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(ended) do
  local a = tonumber(redis.call('HGET', KEYS[3], id) or '0') or 0
  redis.call('HINCRBY', KEYS[1], 'reserved', -a)
  redis.call('HINCRBY', KEYS[1], 'charged', a)
  redis.call('HINCRBY', KEYS[1], 'uncertain', a)
  redis.call('HINCRBY', KEYS[4], 'charged', a)
  redis.call('HINCRBY', KEYS[4], 'uncertain', a)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HSET', KEYS[3], id, 'x' .. a)
end
redis.call('EXPIRE', KEYS[4], 34560000)
";

/// The time (µs), moved by the store's offset, the last argument of every script.
const NOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[#ARGV])
";

/// Starts a renewing budget's new period. The period's kind and anchor day are the two
/// arguments before the offset; the window is `tollgate::Period::window` of `now`.
const ROLL: &str = r"
local function window(kind, anchor, us)
  if kind == 0 then return 0 end
  local days = math.floor(math.floor(us / 1000000) / 86400)
  if kind == 1 then return days end
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  if m <= 2 then y = y + 1 end
  local dim = 31
  if m == 4 or m == 6 or m == 9 or m == 11 then dim = 30
  elseif m == 2 then
    if (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 then dim = 29 else dim = 28 end
  end
  local a = math.min(math.max(anchor, 1), dim)
  local months = y * 12 + m - 1
  if d < a then months = months - 1 end
  return months
end
local kind = tonumber(ARGV[#ARGV - 2])
if kind ~= 0 then
  local w = window(kind, tonumber(ARGV[#ARGV - 1]), now)
  local cur = tonumber(redis.call('HGET', KEYS[1], 'window') or 'x')
  if cur ~= w then
    redis.call('HSET', KEYS[1], 'window', string.format('%d', w), 'charged', 0, 'refunded', 0, 'uncertain', 0)
  end
end
local function spent()
  local c = tonumber(redis.call('HGET', KEYS[1], 'charged') or '0') or 0
  local r = tonumber(redis.call('HGET', KEYS[1], 'refunded') or '0') or 0
  return math.max(c - r, 0)
end
";

/// ARGV: interval µs, burst, cap µs. Returns {reserved (1/0), wait µs}.
const ACQUIRE: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local paused = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if paused - now > cap then return {0, paused - now} end
local slot = math.max(now, tat - (burst - 1) * interval, paused)
local wait = slot - now
local nxt = math.max(tat, slot) + interval
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.floor((nxt - now) / 1000) + 1000)
return {1, wait}
";

/// ARGV: wait µs.
const PAUSE: &str = r"
local wait = tonumber(ARGV[1])
local untl = now + wait
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if untl > cur then
  redis.call('SET', KEYS[1], string.format('%d', untl), 'PX', math.floor(wait / 1000) + 1000)
end
return 1
";

/// ARGV: limit (-1: none), amount, lease µs. Returns {1, id} or {0, remaining}.
const RESERVE: &str = r"
local limit = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local charged = tonumber(redis.call('HGET', KEYS[1], 'charged') or '0') or 0
local refunded = tonumber(redis.call('HGET', KEYS[1], 'refunded') or '0') or 0
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0') or 0
local used = math.max(charged - refunded, 0) + reserved
if limit >= 0 and used + amount > limit then return {0, math.max(limit - used, 0)} end
local id = redis.call('HINCRBY', KEYS[1], 'next_lease', 1)
if amount > 0 then
  redis.call('HINCRBY', KEYS[1], 'reserved', amount)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
  redis.call('HSET', KEYS[3], id, amount)
end
return {1, id}
";

/// ARGV: id, charged, refunded, uncertain (1/0).
const SETTLE: &str = r"
local id = ARGV[1]
local c = tonumber(ARGV[2])
local r = tonumber(ARGV[3])
local u = ARGV[4] == '1'
local held = redis.call('HGET', KEYS[3], id)
redis.call('HDEL', KEYS[3], id)
local function add(charged, refunded, uncertain)
  redis.call('HINCRBY', KEYS[1], 'charged', charged)
  redis.call('HINCRBY', KEYS[1], 'refunded', refunded)
  redis.call('HINCRBY', KEYS[1], 'uncertain', uncertain)
  redis.call('HINCRBY', KEYS[4], 'charged', charged)
  redis.call('HINCRBY', KEYS[4], 'refunded', refunded)
  redis.call('HINCRBY', KEYS[4], 'uncertain', uncertain)
end
if held and string.sub(held, 1, 1) == 'x' then
  local a = tonumber(string.sub(held, 2)) or 0
  if not u then add(c - a, r, -a) end
  return spent()
end
if held then
  redis.call('ZREM', KEYS[2], id)
  redis.call('HINCRBY', KEYS[1], 'reserved', -(tonumber(held) or 0))
end
if u then add(c, r, c) else add(c, r, 0) end
return spent()
";

/// Returns the budget hash, the number of live leases and the day hash, flattened.
const TOTALS: &str = r"
return {redis.call('HGETALL', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('HGETALL', KEYS[4])}
";

/// The shared pace and budget in Redis.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    /// Added to Redis's clock (µs): [`RedisStore::clock_ahead`].
    offset: i64,
    acquire: redis::Script,
    pause: redis::Script,
    reserve: redis::Script,
    settle: redis::Script,
    totals: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4)
}

/// The prefix of a scope's keys (a hash tag keeps them in one cluster slot).
fn base(scope: &Scope) -> String {
    format!("tollgate:{{{}:{}}}", scope.provider, scope.fingerprint)
}

/// The prefix of a scope's budget keys: the key's own, or its budget of one credit type or
/// period.
fn budget_base(scope: &Scope) -> String {
    let base = base(scope);
    if scope.is_overall() {
        return base;
    }
    let credit_type: String = scope
        .credit_type
        .as_deref()
        .unwrap_or("all")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let period = match scope.period.code() {
        (0, _) => String::from("total"),
        (1, _) => String::from("daily"),
        (_, day) => format!("monthly{day}"),
    };
    format!("{base}:{credit_type}:{period}")
}

fn keys(scope: &Scope, day: &str) -> [String; 4] {
    let base = budget_base(scope);
    [
        format!("{base}:budget"),
        format!("{base}:leases"),
        format!("{base}:amounts"),
        format!("{base}:day:{day}"),
    ]
}

/// A connection to `url` that reconnects by itself, with short timeouts (a Redis that does
/// not answer in 2 s is treated as down): shared by the limit store and the cache store.
pub(crate) async fn connection(url: &str) -> Result<ConnectionManager, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client, config).await
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`). The connection manager reconnects by
    /// itself; while Redis is down, calls fail closed on budgets and pace locally.
    pub async fn connect(url: &str) -> Result<RedisStore, StoreError> {
        let connection = connection(url).await.map_err(unavailable)?;
        let sweeping = |body: &str| redis::Script::new(&format!("{NOW}{ROLL}{SWEEP}{body}"));
        Ok(RedisStore {
            connection,
            offset: 0,
            acquire: redis::Script::new(&format!("{NOW}{ACQUIRE}")),
            pause: redis::Script::new(&format!("{NOW}{PAUSE}")),
            reserve: sweeping(RESERVE),
            settle: sweeping(SETTLE),
            totals: sweeping(TOTALS),
        })
    }

    /// The same store, reading Redis's clock `ahead` of what it says: a test of renewing
    /// budgets or leases sets the time a script sees without waiting for it (Redis's clock
    /// cannot be set). Every handle of a team must use the same offset.
    pub fn clock_ahead(mut self, ahead: Duration) -> RedisStore {
        self.offset = micros(ahead);
        self
    }
}

fn today() -> String {
    crate::shared::today()
}

impl RedisStore {
    /// Runs a budget script on `scope`'s keys (`day` the day's totals) with `args`, then the
    /// scope's period and the clock's offset, the arguments every budget script ends with.
    async fn run_budget<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        scope: &Scope,
        day: &str,
        args: &[i64],
    ) -> Result<T, StoreError> {
        let [budget, leases, amounts, day] = keys(scope, day);
        let (kind, anchor) = scope.period.code();
        let mut invocation = script.key(budget);
        invocation.key(leases).key(amounts).key(day);
        for arg in args {
            invocation.arg(*arg);
        }
        invocation.arg(kind).arg(anchor).arg(self.offset);
        let mut connection = self.connection.clone();
        invocation
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)
    }
}

impl Store for RedisStore {
    fn acquire<'a>(&'a self, scope: &'a Scope, pace: Pace) -> StoreFuture<'a, Admission> {
        Box::pin(async move {
            let base = base(scope);
            let mut connection = self.connection.clone();
            let (reserved, wait): (i64, i64) = self
                .acquire
                .key(format!("{base}:tat"))
                .key(format!("{base}:pause"))
                .arg(micros(pace.interval))
                .arg(pace.burst.max(1))
                .arg(micros(pace.cap))
                .arg(self.offset)
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            let wait = Duration::from_micros(u64::try_from(wait).unwrap_or(0));
            Ok(if reserved == 1 {
                Admission::After(wait)
            } else {
                Admission::Beyond(wait)
            })
        })
    }

    fn pause<'a>(&'a self, scope: &'a Scope, wait: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let base = base(scope);
            let mut connection = self.connection.clone();
            let _: i64 = self
                .pause
                .key(format!("{base}:pause"))
                .arg(micros(wait))
                .arg(self.offset)
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn reserve<'a>(&'a self, scope: &'a Scope, claim: Claim) -> StoreFuture<'a, Reserved> {
        Box::pin(async move {
            let args = [
                claim.limit.unwrap_or(-1),
                claim.amount.max(0),
                micros(claim.lease),
            ];
            let (ok, value): (i64, i64) = self
                .run_budget(&self.reserve, scope, &today(), &args)
                .await?;
            Ok(if ok == 1 {
                Reserved::Lease(u64::try_from(value).unwrap_or(0))
            } else {
                Reserved::Refused { remaining: value }
            })
        })
    }

    fn settle<'a>(&'a self, scope: &'a Scope, id: u64, cost: Settlement) -> StoreFuture<'a, i64> {
        Box::pin(async move {
            let args = [
                i64::try_from(id).unwrap_or(i64::MAX),
                cost.charged,
                cost.refunded,
                i64::from(cost.uncertain),
            ];
            self.run_budget(&self.settle, scope, &today(), &args).await
        })
    }

    fn totals<'a>(&'a self, scope: &'a Scope) -> StoreFuture<'a, SharedTotals> {
        Box::pin(async move {
            let today = today();
            let (fields, live, day_fields): (BTreeMap<String, i64>, u64, BTreeMap<String, i64>) =
                self.run_budget(&self.totals, scope, &today, &[]).await?;
            let get = |m: &BTreeMap<String, i64>, k: &str| m.get(k).copied().unwrap_or(0);
            let mut days = BTreeMap::new();
            if !day_fields.is_empty() {
                days.insert(
                    today,
                    (
                        get(&day_fields, "charged"),
                        get(&day_fields, "refunded"),
                        get(&day_fields, "uncertain"),
                    ),
                );
            }
            Ok(SharedTotals {
                charged: get(&fields, "charged"),
                refunded: get(&fields, "refunded"),
                uncertain: get(&fields, "uncertain"),
                reserved: get(&fields, "reserved"),
                leases: live,
                days,
            })
        })
    }
}
