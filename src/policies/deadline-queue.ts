import { AsyncResource } from 'node:async_hooks';
import { type Clock, MAX_TIMER_MS, systemClock } from './clock.js';

/** A pending deadline; `cancel()` it when the guarded work settles first. */
export interface Deadline {
  cancel(): void;
}

/**
 * A deadline in a {@link DeadlineQueue}, kept by what it guards (no closure per deadline):
 * an object with these fields, linked into the queue by `insert` or `insertAfter`, whose
 * `expire()` is called once when `at` is reached before it is removed.
 */
export interface DeadlineEntry {
  prev: DeadlineEntry | undefined;
  next: DeadlineEntry | undefined;
  /** Whether it is still queued. */
  live: boolean;
  /** When it expires (clock ms); `NaN` while `insertAfter` has not stamped it yet. */
  at: number;
  expire(): void;
}

/**
 * How long after a clock read `insertAfter` stamps further entries with a later one
 * instead of reading the clock for each (ms): their expiry is at most this much late
 * while the event loop runs, never early.
 */
export const STAMP_WINDOW_MS = 1;

/** How often (in entries) an open stamp window checks the clock anyway; a power of two. */
const CHECK_EVERY = 64;

class CallbackEntry implements DeadlineEntry, Deadline {
  prev: DeadlineEntry | undefined = undefined;
  next: DeadlineEntry | undefined = undefined;
  live = true;
  /** The async context it was added in: the queue's one timer fires in that of whichever call armed it. */
  private readonly addedIn = new AsyncResource('otel-resilience.deadline');

  constructor(
    private readonly queue: DeadlineQueue,
    readonly at: number,
    private readonly onExpire: () => void,
  ) {}

  expire(): void {
    this.addedIn.runInAsyncScope(this.onExpire);
  }

  cancel(): void {
    this.queue.remove(this);
  }
}

type TimerHandle = { ref?: () => unknown; unref?: () => unknown } | undefined;

/**
 * Deadlines of one duration, served by a single timer instead of one per call.
 *
 * Entries are kept in a doubly linked list in deadline order (they arrive in that order,
 * as every entry has the same duration; an out-of-order arrival is inserted from the
 * tail). Cancelling unlinks in O(1). One timer is armed for the earliest deadline; when
 * it fires it expires what is due and re-arms for the next. While no deadline is
 * pending the timer is unref'd, so it never keeps the process alive, and it is not
 * re-armed once it finds nothing left. A deadline more than {@link MAX_TIMER_MS} away is
 * reached by re-arming (Node fires longer timers after 1 ms).
 *
 * `insertAfter` (a queue of `durationMs`) saves calls in a burst the clock read: the first
 * reads the clock and opens a window of {@link STAMP_WINDOW_MS}; entries inserted while it
 * is open wait unstamped at the tail, and when it closes (the timer fires then) they are
 * stamped with that time plus `durationMs`, an upper bound of their start. The window's
 * timer also keeps the process alive through the burst (no `ref`/`unref` per call) and,
 * finding nothing left, lets it exit at most a window later. A queue takes either
 * `insertAfter` entries or stamped ones, not both.
 */
export class DeadlineQueue {
  private head: DeadlineEntry | undefined;
  private tail: DeadlineEntry | undefined;
  private timer: unknown;
  /** When the armed timer fires (clock ms); meaningful while `timer` is set. */
  private armedAt = 0;
  /** Whether a stamp window is open: entries inserted now wait for its close to be stamped. */
  private stamping = false;
  /** When the open stamp window closes (clock ms): the timer fires by then. */
  private closeAt = 0;
  /** The first entry waiting for its stamp (every entry after it waits too). */
  private unstamped: DeadlineEntry | undefined;
  /** Entries inserted unstamped in the open window. */
  private waiting = 0;
  /** The global `setTimeout` that armed the timer, on the system clock (see `timerLost`). */
  private armedWith: unknown;

  /** `durationMs`: what `insertAfter` entries expire after (ms). */
  constructor(
    private readonly clock: Clock,
    private readonly durationMs = 0,
  ) {}

  /** Calls `onExpire` at `at` (clock ms) unless cancelled first, in the async context it was added in (as `setTimeout` does). */
  add(at: number, onExpire: () => void): Deadline {
    return this.insert(new CallbackEntry(this, at, onExpire));
  }

  /** Queues `entry` (fresh: `live`, unlinked): its `expire()` is called at `entry.at` unless removed first. */
  insert<E extends DeadlineEntry>(entry: E): E {
    if (this.timerLost()) this.timer = undefined;
    this.link(entry);
    if (this.timer === undefined || entry.at < this.armedAt) this.arm(entry.at);
    else if (this.head === entry) (this.timer as TimerHandle)?.ref?.();
    return entry;
  }

  /** Links `entry` in deadline order, looking from the tail (where a new deadline belongs). */
  private link(entry: DeadlineEntry): void {
    const at = entry.at;
    let after = this.tail;
    while (after !== undefined && after.at > at) after = after.prev;
    entry.prev = after;
    entry.next = after === undefined ? this.head : after.next;
    if (entry.next === undefined) this.tail = entry;
    else entry.next.prev = entry;
    if (after === undefined) this.head = entry;
    else after.next = entry;
  }

  /**
   * Queues `entry` (fresh: `live`, unlinked) to expire `durationMs` from now: at most
   * {@link STAMP_WINDOW_MS} late while the event loop runs (later by as long as it was
   * blocked), never early. Reads the clock when no stamp window is open, and on every
   * 64th entry of an open one (closing it if overdue).
   */
  insertAfter<E extends DeadlineEntry>(entry: E): E {
    // Every CHECK_EVERY-th entry of a window reads the clock after all: a window whose timer
    // could not fire (the event loop busy for longer) or never will (fake timers switched
    // off before it fired) is closed here rather than left open.
    if (this.stamping && (++this.waiting & (CHECK_EVERY - 1)) !== 0 && !this.timerLost()) return this.append(entry);
    const now = this.clock.now();
    if (this.timerLost()) this.timer = undefined;
    if (this.stamping) {
      if (now < this.closeAt && this.timer !== undefined) return this.append(entry);
      this.stampWaiting(now);
      if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    entry.at = now + this.durationMs;
    this.stamping = true;
    this.closeAt = now + STAMP_WINDOW_MS;
    this.link(entry);
    // A timer already overdue is re-armed too: it may never fire (see above).
    if (this.timer === undefined || this.closeAt < this.armedAt || now > this.armedAt) this.arm(this.closeAt, now);
    else if (this.head === entry) (this.timer as TimerHandle)?.ref?.();
    return entry;
  }

  /** Links `entry` at the tail, unstamped: the open window's timer (armed and ref'd) stamps it. */
  private append<E extends DeadlineEntry>(entry: E): E {
    entry.at = Number.NaN;
    entry.prev = this.tail;
    entry.next = undefined;
    if (this.tail === undefined) this.head = entry;
    else this.tail.next = entry;
    this.tail = entry;
    if (this.unstamped === undefined) this.unstamped = entry;
    return entry;
  }

  /** Closes the stamp window: every entry waiting was inserted before `now`, an upper bound of its start. */
  private stampWaiting(now: number): void {
    this.stamping = false;
    for (let entry = this.unstamped; entry !== undefined; entry = entry.next) entry.at = now + this.durationMs;
    this.unstamped = undefined;
    this.waiting = 0;
  }

  /** Unlinks `entry` (what `Deadline.cancel` does). */
  remove(entry: DeadlineEntry): void {
    if (!entry.live) return;
    entry.live = false;
    if (entry === this.unstamped) this.unstamped = entry.next;
    if (entry.prev === undefined) this.head = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === undefined) this.tail = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = entry.next = undefined;
    // An open stamp window keeps its timer ref'd until it closes, a moment from now.
    if (this.head === undefined && !this.stamping) (this.timer as TimerHandle)?.unref?.();
  }

  /**
   * Whether the armed timer belongs to timers no longer installed: the system clock's
   * timers are the global ones at call time, and test frameworks swap those
   * (`vi.useFakeTimers()` / `useRealTimers()`), leaving a fake timer that never fires.
   */
  private timerLost(): boolean {
    return this.armedWith !== undefined && this.armedWith !== globalThis.setTimeout;
  }

  /** Arms the timer for `at`; `now` if the clock was just read. */
  private arm(at: number, now = this.clock.now()): void {
    if (this.timer !== undefined && !this.timerLost()) this.clock.clearTimeout(this.timer);
    this.armedWith = this.clock === systemClock ? globalThis.setTimeout : undefined;
    this.armedAt = at;
    // A deadline beyond one timer's reach is re-armed when the timer finds it not yet due.
    this.timer = this.clock.setTimeout(() => this.fire(), Math.min(MAX_TIMER_MS, Math.max(0, at - now)));
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.clock.now();
    if (this.stamping) this.stampWaiting(now);
    let expired = false;
    while (this.head !== undefined && this.head.at <= now) {
      const entry = this.head;
      this.remove(entry);
      entry.expire();
      expired = true;
    }
    // The expiries may have taken time (listeners' synchronous work): the next delay is measured from their end.
    const armNow = expired ? this.clock.now() : now;
    // An entry's expire() may have opened a new stamp window (a listener starting a call): its close comes first,
    // unless a stamped head is due before it (an unstamped head's `at` is NaN).
    const at = this.head?.at;
    if (this.stamping) this.arm(at !== undefined && at < this.closeAt ? at : this.closeAt, armNow);
    else if (at !== undefined) this.arm(at, armNow);
  }
}
