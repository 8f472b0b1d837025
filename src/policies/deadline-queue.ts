import { type Clock, MAX_TIMER_MS } from './clock.js';

/** A pending deadline; `cancel()` it when the guarded work settles first. */
export interface Deadline {
  cancel(): void;
}

/**
 * A deadline in a {@link DeadlineQueue}, kept by what it guards (no closure per deadline):
 * an object with these fields, linked into the queue by `insert`, whose `expire()` is
 * called once when `at` is reached before it is removed.
 */
export interface DeadlineEntry {
  prev: DeadlineEntry | undefined;
  next: DeadlineEntry | undefined;
  /** Whether it is still queued. */
  live: boolean;
  /** When it expires (clock ms). */
  readonly at: number;
  expire(): void;
}

class CallbackEntry implements DeadlineEntry, Deadline {
  prev: DeadlineEntry | undefined = undefined;
  next: DeadlineEntry | undefined = undefined;
  live = true;

  constructor(
    private readonly queue: DeadlineQueue,
    readonly at: number,
    private readonly onExpire: () => void,
  ) {}

  expire(): void {
    this.onExpire();
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
 */
export class DeadlineQueue {
  private head: DeadlineEntry | undefined;
  private tail: DeadlineEntry | undefined;
  private timer: unknown;
  /** When the armed timer fires (clock ms); meaningful while `timer` is set. */
  private armedAt = 0;

  constructor(private readonly clock: Clock) {}

  /** Calls `onExpire` at `at` (clock ms) unless cancelled first. */
  add(at: number, onExpire: () => void): Deadline {
    return this.insert(new CallbackEntry(this, at, onExpire));
  }

  /** Queues `entry` (fresh: `live`, unlinked): its `expire()` is called at `entry.at` unless removed first. */
  insert<E extends DeadlineEntry>(entry: E): E {
    const at = entry.at;
    let after = this.tail;
    while (after !== undefined && after.at > at) after = after.prev;
    entry.prev = after;
    entry.next = after === undefined ? this.head : after.next;
    if (entry.next === undefined) this.tail = entry;
    else entry.next.prev = entry;
    if (after === undefined) this.head = entry;
    else after.next = entry;
    if (this.timer === undefined || at < this.armedAt) this.arm(at);
    else if (this.head === entry) (this.timer as TimerHandle)?.ref?.();
    return entry;
  }

  /** Unlinks `entry` (what `Deadline.cancel` does). */
  remove(entry: DeadlineEntry): void {
    if (!entry.live) return;
    entry.live = false;
    if (entry.prev === undefined) this.head = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === undefined) this.tail = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = entry.next = undefined;
    if (this.head === undefined) (this.timer as TimerHandle)?.unref?.();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.armedAt = at;
    // A deadline beyond one timer's reach is re-armed when the timer finds it not yet due.
    this.timer = this.clock.setTimeout(() => this.fire(), Math.min(MAX_TIMER_MS, Math.max(0, at - this.clock.now())));
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.clock.now();
    while (this.head !== undefined && this.head.at <= now) {
      const entry = this.head;
      this.remove(entry);
      entry.expire();
    }
    if (this.head !== undefined) this.arm(this.head.at);
  }
}
