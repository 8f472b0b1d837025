import type { Clock } from '../policies/clock.js';

/** Why a lease ended without being given back. */
export type LeaseLoss = 'taken' | 'expired';

/**
 * Keeps a lease alive while its holder works: renews it every third of `leaseMs`, and
 * through failed renewals (a store timeout, a dropped connection) keeps trying every
 * tenth of it until the lease has really run out — one failed renewal never gives a
 * lease away. The lease is lost when the store says another holder has it (`renew`
 * resolves false: `'taken'`) or when it ran out by this process's clock, counted from
 * the moment the last successful renewal was sent (`'expired'`). Timers are unref'd.
 */
export class LeaseKeeper {
  private timer: unknown;
  private watchdog: unknown;
  private stopped = false;
  /** When the lease runs out at the latest, by `clock` (ms). */
  expiresAt: number;
  /** Why the lease was lost, once it was. */
  lost: LeaseLoss | undefined;

  /**
   * @param renew one renewal: true when renewed, false when another holder has the lease
   * @param onLost told once when the lease is lost
   */
  constructor(
    private readonly renew: () => Promise<boolean>,
    private readonly leaseMs: number,
    private readonly clock: Clock,
    private readonly onLost: (why: LeaseLoss) => void = () => {},
  ) {
    this.expiresAt = clock.now() + leaseMs;
  }

  /** Starts renewing (the lease was just taken or renewed). */
  start(): this {
    this.arm();
    this.schedule(this.leaseMs / 3);
    return this;
  }

  /** Stops renewing; the lease is left to run out or is given back by its holder. */
  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.clock.clearTimeout(this.watchdog);
  }

  /** Records a renewal made by other means (a save that also renews), sent at `sentAt`. */
  renewed(sentAt: number): void {
    this.expiresAt = Math.max(this.expiresAt, sentAt + this.leaseMs);
    this.arm();
  }

  /** Loses the lease when it runs out even while a renewal hangs. */
  private arm(): void {
    if (this.stopped) return;
    this.clock.clearTimeout(this.watchdog);
    this.watchdog = this.clock.setTimeout(
      () => {
        if (this.clock.now() >= this.expiresAt) this.lose('expired');
        else this.arm();
      },
      Math.max(1, this.expiresAt - this.clock.now()),
    );
    (this.watchdog as { unref?: () => void } | undefined)?.unref?.();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => this.attempt(), Math.max(1, delayMs));
    (this.timer as { unref?: () => void } | undefined)?.unref?.();
  }

  private attempt(): void {
    const sentAt = this.clock.now();
    let renewal: Promise<boolean>;
    try {
      renewal = this.renew();
    } catch (error) {
      renewal = Promise.reject(error);
    }
    renewal.then(
      (held) => {
        if (this.stopped) return;
        if (!held) return this.lose('taken');
        this.renewed(sentAt);
        this.schedule(this.leaseMs / 3);
      },
      () => {
        if (this.stopped) return;
        const left = this.expiresAt - this.clock.now();
        if (left <= 0) return this.lose('expired');
        this.schedule(Math.min(this.leaseMs / 10, left));
      },
    );
  }

  private lose(why: LeaseLoss): void {
    if (this.lost !== undefined) return;
    this.lost = why;
    this.stop();
    this.onLost(why);
  }
}
