import { createHash } from 'node:crypto';
import { diag } from '@opentelemetry/api';
import type { Clock } from '../policies/clock.js';
import { ResilienceError } from '../policies/errors.js';
import { knownOptions, numberOption, stringOption } from '../policies/validate.js';

/**
 * The part of a Redis client the stores use: node-redis (`redis` 5.x/6.x, the client
 * Redis recommends for new projects) fits as it is — pass a connected `createClient()`.
 * Any client can be adapted by implementing `sendCommand` (ioredis: `(args) =>
 * ioredis.call(...args)`).
 */
export interface RedisClient {
  /**
   * Sends one command (`['HGET', key, field]`) and resolves with its reply; rejects when
   * the command fails or takes longer than `options.timeout` ms.
   */
  sendCommand(args: string[], options?: { timeout?: number }): Promise<unknown>;
}

/**
 * Reports an error event of a client nobody else listens to. node-redis emits `'error'`
 * on every dropped connection, and an `'error'` event without a listener ends the
 * process: a store must not turn a Redis outage into a crash.
 */
function onClientError(error: unknown): void {
  diag.warn('otel-resilience: Redis client error (the stores go on: their commands fail or wait until it is back)', error);
}

/** Options every Redis-backed store takes. */
export interface RedisStoreOptions {
  /**
   * A connected client (see {@link RedisClient}). If it is an event emitter without an
   * `'error'` listener, the store adds one (reporting through OpenTelemetry's `diag`),
   * so that Redis going away does not crash the process; give it a reconnect strategy
   * (node-redis reconnects by default) so the stores come back with Redis.
   */
  readonly client: RedisClient;
  /** Prefix of every key the store writes (default: `'otel-resilience:'` plus the store's kind). */
  readonly keyPrefix?: string;
  /**
   * Longest wait for one Redis command, in ms (default 2000): a store never hangs the
   * call it serves on a Redis that does not answer; the command rejects instead.
   */
  readonly commandTimeoutMs?: number;
  /**
   * Time source of the stores that keep time — leases, refills, open periods (default:
   * the Redis server's `TIME`, one clock for every process). Give one only to drive a
   * store from a test clock; the workflow store takes none.
   */
  readonly clock?: Clock;
}

/**
 * A Redis command of a store got no reply within `commandTimeoutMs` (code
 * `REDIS_STORE_TIMEOUT`, retryable). The command may still have run: an idempotency
 * record stays protected by its lease.
 */
export class RedisStoreTimeoutError extends ResilienceError {
  constructor(command: string, timeoutMs: number) {
    super(`Redis did not answer ${command} within ${timeoutMs} ms (commandTimeoutMs)`, 'REDIS_STORE_TIMEOUT', true);
  }
}

/**
 * Sends one command, rejecting with {@link RedisStoreTimeoutError} when no reply comes
 * within `timeoutMs`. The client's own `timeout` covers only a command still waiting to
 * be written; this bound also covers one the server sits on.
 */
function sendCommand(client: RedisClient, args: string[], timeoutMs: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisStoreTimeoutError(args[0]!, timeoutMs)), timeoutMs);
    timer.unref();
  });
  return Promise.race([client.sendCommand(args, { timeout: timeoutMs }), timeout]).finally(() => clearTimeout(timer));
}

/**
 * Lua prelude of scripts that need the time: `now` in epoch ms — `ARGV[1]` when the
 * store runs on an injected clock, else the server's `TIME`, so that processes on
 * machines with skewed clocks agree — `num(x)`, a number written back exactly, and
 * `ms(x)`, a whole number of ms for `PEXPIRE`.
 */
export const LUA_NOW = `
local now
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function num(x) return string.format('%.17g', x) end
local function ms(x) return string.format('%d', math.max(1, math.ceil(x))) end
`;

/**
 * A Lua script run atomically on one key: `EVALSHA`, falling back to `EVAL` (which
 * caches it again) when the server does not know the script yet.
 */
export class RedisScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisClient, key: string, args: string[], timeoutMs: number): Promise<unknown> {
    try {
      return await sendCommand(client, ['EVALSHA', this.sha, '1', key, ...args], timeoutMs);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return sendCommand(client, ['EVAL', this.source, '1', key, ...args], timeoutMs);
    }
  }
}

/**
 * What every Redis store shares: its validated options, and running its commands and
 * scripts on one key each, bounded by `commandTimeoutMs`.
 */
export abstract class RedisStore {
  private readonly client: RedisClient;
  private readonly keyPrefix: string;
  /** Longest wait for one command, in ms. */
  protected readonly commandTimeoutMs: number;
  /** The injected clock, or undefined for the server's time. */
  protected readonly clock: Clock | undefined;

  /**
   * @param keepsTime whether the store takes a `clock`
   * @throws TypeError naming the option, for an unknown option, a missing client or a bad value
   */
  /** @param extraOptions the subclass's own option names, besides the common ones */
  protected constructor(
    options: RedisStoreOptions,
    defaultPrefix: string,
    keepsTime = true,
    extraOptions: readonly string[] = [],
  ) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Invalid Redis store options: expected an object with a client, got ${String(options)}`);
    }
    knownOptions('', options, ['client', 'keyPrefix', 'commandTimeoutMs', ...(keepsTime ? ['clock'] : []), ...extraOptions]);
    if (typeof (options.client as Partial<RedisClient> | undefined)?.sendCommand !== 'function') {
      throw new TypeError(
        `Invalid option client: expected a connected Redis client with sendCommand (node-redis createClient()), got ${String(options.client)}`,
      );
    }
    this.client = options.client;
    const emitter = options.client as { on?: unknown; listenerCount?: unknown };
    if (typeof emitter.on === 'function' && typeof emitter.listenerCount === 'function') {
      const events = emitter as unknown as {
        on(event: 'error', f: (e: unknown) => void): void;
        listenerCount(event: string): number;
      };
      if (events.listenerCount('error') === 0) events.on('error', onClientError);
    }
    this.keyPrefix = stringOption('keyPrefix', options.keyPrefix, defaultPrefix);
    this.commandTimeoutMs = numberOption('commandTimeoutMs', options.commandTimeoutMs, 2000, { min: 1 });
    this.clock = options.clock;
  }

  /** Runs `script` on `key` (under the prefix) with ARGV: the time (the clock's, or '' for the server's), then `args`. */
  protected runScript(script: RedisScript, key: string, args: string[]): Promise<unknown> {
    const now = this.clock === undefined ? '' : String(this.clock.now());
    return script.run(this.client, this.keyPrefix + key, [now, ...args], this.commandTimeoutMs);
  }

  /** The Redis key of `key` (under the prefix), e.g. to name it in an error. */
  protected redisKey(key: string): string {
    return this.keyPrefix + key;
  }

  /**
   * The keys under the prefix (without it), by `SCAN … MATCH` (glob characters of the
   * prefix escaped), a page of 100 per command.
   */
  protected async scan(): Promise<string[]> {
    const pattern = `${this.keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    const keys = new Set<string>();
    let cursor = '0';
    do {
      const reply = (await sendCommand(
        this.client,
        ['SCAN', cursor, 'MATCH', pattern, 'COUNT', '100'],
        this.commandTimeoutMs,
      )) as [string, string[]];
      cursor = String(reply[0]);
      for (const key of reply[1]) keys.add(String(key).slice(this.keyPrefix.length));
    } while (cursor !== '0');
    return [...keys];
  }

  /** Sends `command key ...args` for `key` (under the prefix). */
  protected send(command: string, key: string, args: string[]): Promise<unknown> {
    return sendCommand(this.client, [command, this.keyPrefix + key, ...args], this.commandTimeoutMs);
  }
}
