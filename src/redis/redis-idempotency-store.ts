import {
  type AcquireResult,
  type IdempotencyRecord,
  type IdempotencyStatus,
  type IdempotencyStore,
  idempotencyRecordProblem,
} from '../idempotency/idempotency-store.js';
import { CorruptRecordError, sha256 } from '../stores/corrupt-record-error.js';
import { LUA_NOW, RedisScript, RedisStore, type RedisStoreOptions } from './redis-client.js';

/** Lua prelude of every script: the time (ARGV[1]), and the record's liveness and holder. */
const PRELUDE = `${LUA_NOW}
-- A record counts while it has not expired; one whose expiry is missing or unreadable
-- counts too, so that it is handed to the client (which names it corrupt) and never
-- silently replaced.
local function live()
  if redis.call('EXISTS', KEYS[1]) == 0 then return false end
  local expires = tonumber(redis.call('HGET', KEYS[1], 'expires'))
  return expires == nil or expires > now
end
local function holds(owner)
  local r = redis.call('HMGET', KEYS[1], 'status', 'owner')
  return r[1] == 'in_progress' and r[2] == owner
end
`;

/** ARGV: now, owner, fingerprint, leaseMs, ttlMs → 1, or the live record (HGETALL) that keeps the key. */
const ACQUIRE = new RedisScript(`${PRELUDE}
if live() then
  local r = redis.call('HMGET', KEYS[1], 'status', 'lease')
  if not (r[1] == 'in_progress' and ((tonumber(r[2]) or 0) <= now or holds(ARGV[2]))) then return redis.call('HGETALL', KEYS[1]) end
end
local lease = now + tonumber(ARGV[4])
local expires = now + math.max(tonumber(ARGV[5]), tonumber(ARGV[4]))
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'status', 'in_progress', 'owner', ARGV[2], 'lease', num(lease), 'expires', num(expires))
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'fingerprint', ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], ms(expires - now))
return 1`);

/** ARGV: now, owner, status, result JSON or '', error JSON or '', ttlMs, checksum → 1 or 0. */
const COMPLETE = new RedisScript(`${PRELUDE}
if not holds(ARGV[2]) then return 0 end
redis.call('HDEL', KEYS[1], 'lease', 'result', 'error')
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'expires', num(now + tonumber(ARGV[6])), 'sum', ARGV[7])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'result', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[5]) end
redis.call('PEXPIRE', KEYS[1], ms(tonumber(ARGV[6])))
return 1`);

/** ARGV: now, owner → 1 or 0. */
const RELEASE = new RedisScript(`${PRELUDE}
if not holds(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
return 1`);

/** ARGV: now, owner, leaseMs → 1 or 0. */
const EXTEND = new RedisScript(`${PRELUDE}
if not holds(ARGV[2]) then return 0 end
local lease = now + tonumber(ARGV[3])
local expires = math.max(tonumber(redis.call('HGET', KEYS[1], 'expires')), lease)
redis.call('HSET', KEYS[1], 'lease', num(lease), 'expires', num(expires))
redis.call('PEXPIRE', KEYS[1], ms(expires - now))
return 1`);

/** ARGV: now → the live record (HGETALL), or an empty array. */
const GET = new RedisScript(`${PRELUDE}
if live() then return redis.call('HGETALL', KEYS[1]) end
return {}`);

/**
 * An {@link IdempotencyStore} in Redis, for processes on many machines. Each record is
 * a hash under one key (`keyPrefix` + idempotency key), so it works on Redis Cluster;
 * every operation is one Lua script on server time, and each record carries its lease
 * — a live in-progress record is never taken over, a crashed holder's is once its
 * lease runs out (the duplicate-run bug of Powertools' Redis layer cannot happen). The
 * fingerprint is kept on completion. Records expire with `PEXPIRE`, so Redis forgets
 * them by itself. Redis errors and timeouts reject the operation: a call is never run
 * twice because the store could not be reached.
 *
 * @throws TypeError naming the option, for invalid options
 */
export class RedisIdempotencyStore extends RedisStore implements IdempotencyStore {
  constructor(options: RedisStoreOptions) {
    super(options, 'otel-resilience:idempotency:');
  }

  async acquire(key: string, a: { owner: string; fingerprint?: string; leaseMs: number; ttlMs: number }): Promise<AcquireResult> {
    const reply = await this.runScript(ACQUIRE, key, [a.owner, a.fingerprint ?? '', String(a.leaseMs), String(a.ttlMs)]);
    return reply === 1 ? { acquired: true } : { acquired: false, existing: this.recordOf(key, reply as string[]) };
  }

  async complete(
    key: string,
    owner: string,
    outcome: { result?: unknown; error?: IdempotencyRecord['error']; ttlMs: number },
  ): Promise<boolean> {
    const status: IdempotencyStatus = outcome.error === undefined ? 'completed' : 'failed';
    const result = outcome.result === undefined ? '' : JSON.stringify(outcome.result);
    const error = outcome.error === undefined ? '' : JSON.stringify(outcome.error);
    return (
      (await this.runScript(COMPLETE, key, [owner, status, result, error, String(outcome.ttlMs), sumOf(result, error)])) === 1
    );
  }

  async release(key: string, owner: string): Promise<boolean> {
    return (await this.runScript(RELEASE, key, [owner])) === 1;
  }

  async extendLease(key: string, owner: string, leaseMs: number): Promise<boolean> {
    return (await this.runScript(EXTEND, key, [owner, String(leaseMs)])) === 1;
  }

  async get(key: string): Promise<IdempotencyRecord | undefined> {
    const fields = (await this.runScript(GET, key, [])) as string[];
    return fields.length === 0 ? undefined : this.recordOf(key, fields);
  }

  /**
   * The record of a `HGETALL` reply (`[field, value, …]`), checked: a result that does
   * not match its checksum, is not JSON, or a record of the wrong shape is a
   * {@link CorruptRecordError} naming the key and the Redis key.
   */
  private recordOf(key: string, reply: string[]): IdempotencyRecord {
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < reply.length; i += 2) fields.set(reply[i]!, reply[i + 1]!);
    const corrupt = (reason: string, cause?: unknown) =>
      new CorruptRecordError(key, `Redis key ${this.redisKey(key)}`, reason, cause === undefined ? undefined : { cause });
    const status = fields.get('status');
    if (status !== 'in_progress' && fields.get('sum') !== sumOf(fields.get('result') ?? '', fields.get('error') ?? '')) {
      throw corrupt('checksum mismatch (result or error edited)');
    }
    const number = (name: string) => (fields.has(name) ? Number(fields.get(name)) : undefined);
    const json = (name: string) => {
      try {
        return fields.has(name) ? JSON.parse(fields.get(name)!) : undefined;
      } catch (error) {
        throw corrupt(`${name} is not JSON`, error);
      }
    };
    const record = {
      key,
      status: status as IdempotencyStatus,
      owner: fields.get('owner'),
      fingerprint: fields.get('fingerprint'),
      leaseExpiresAt: number('lease'),
      expiresAt: number('expires'),
      result: json('result'),
      error: json('error'),
    };
    const problem = idempotencyRecordProblem(record);
    if (problem !== undefined) throw corrupt(problem);
    return record as IdempotencyRecord;
  }
}

/** Checksum of a completed record's stored result and error (as written). */
function sumOf(result: string, error: string): string {
  return sha256(`${result}\n${error}`);
}
