/**
 * Telling people that a run needs them. A notifier is called after the hand-off is
 * stored, so a notifier that is down never loses it: each is retried (traced attempts),
 * and what came of it — delivered, or failed after N attempts with the error — is an
 * entry in the run's audit trail; the run waits either way (`runs list` shows it).
 */
import { ResiliencePipeline } from '../pipeline/pipeline.js';
import type { RetryOptions } from '../policies/retry.js';
import { knownOptions, numberOption, stringOption } from '../policies/validate.js';
import { type AuditEntry, describeFailure, type HumanTask } from './human.js';

/** What a notifier is told: the run, the task (its incident or approval request), and how to act on it. */
export interface HandOffNotice {
  /** A hand-off or an approval request. */
  readonly kind: HumanTask['kind'];
  readonly runId: string;
  /** The workflow's name. */
  readonly workflow: string;
  /** What the person is asked: its `incident` (hand-off) or `request` (approval). */
  readonly task: HumanTask;
  /** A link to the trace of the execution that handed off, if known. */
  readonly traceUrl: string | undefined;
  /** The CLI commands that show and decide the run. */
  readonly commands: { readonly show: string; readonly approve: string; readonly reject: string };
}

/** Tells people about a hand-off (webhook, email, Slack, pager…). Throwing (or rejecting) is a failed delivery: retried, then recorded. */
export interface Notifier {
  /** Names it in the audit trail and in traces. */
  readonly name: string;
  notify(notice: HandOffNotice, options: { readonly signal: AbortSignal }): Promise<unknown> | unknown;
}

/** Options of {@link webhookNotifier}. */
export interface WebhookNotifierOptions {
  /** Where to POST the notice (JSON). */
  readonly url: string | URL;
  /** Extra request headers (an authorization token, say). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Name in the audit trail (default `'webhook'`). */
  readonly name?: string;
  /** Turns the notice into the request body (default: the notice itself), e.g. for a chat's webhook format. */
  readonly body?: (notice: HandOffNotice) => unknown;
}

/** A webhook answered with a status other than 2xx. `status` is the HTTP status (so 4xx is not retried, 5xx/429 are). */
export class WebhookError extends Error {
  override readonly name = 'WebhookError';
  constructor(
    readonly status: number,
    url: string,
  ) {
    super(`Webhook ${url} answered ${status}`);
  }
}

/**
 * A {@link Notifier} that POSTs the notice as JSON (`content-type: application/json`)
 * to `url` with `fetch`; any 2xx is delivered, anything else a {@link WebhookError}.
 * @throws TypeError naming the option, for a bad url or option
 */
export function webhookNotifier(options: WebhookNotifierOptions): Notifier {
  knownOptions('webhookNotifier.', options, ['url', 'headers', 'name', 'body']);
  const url = new URL(String(options.url)).href;
  const name = stringOption('webhookNotifier.name', options.name, 'webhook');
  const body = options.body ?? ((notice: HandOffNotice) => notice);
  return {
    name,
    async notify(notice, { signal }) {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...options.headers },
        body: JSON.stringify(body(notice)),
        signal,
      });
      await response.body?.cancel();
      if (!response.ok) throw new WebhookError(response.status, url);
    },
  };
}

/** How notifiers are retried: the default is 3 retries from 250 ms, each attempt bounded by `timeoutMs` (5000). */
export interface NotifyOptions {
  readonly retry?: RetryOptions;
  readonly timeoutMs?: number;
}

/**
 * The pipeline notifiers are called through, made from {@link NotifyOptions} at the
 * workflow's construction (retry and attempt timeout only: no state, so one serves every
 * call).
 * @throws TypeError/RangeError naming the option, for bad options
 */
export function notifySettings(options: NotifyOptions | undefined): ResiliencePipeline {
  knownOptions('workflow.notify.', options ?? {}, ['retry', 'timeoutMs']);
  return new ResiliencePipeline({
    retry: options?.retry ?? { maxRetries: 3, baseDelayMs: 250 },
    attemptTimeoutMs: numberOption('workflow.notify.timeoutMs', options?.timeoutMs, 5000, { min: 1 }),
  });
}

/**
 * Calls every notifier (one after another, each retried through a pipeline, its attempts
 * traced as `hand-off notify <name>`); never throws. Returns one audit entry per notifier.
 */
export async function notifyAll(
  notifiers: readonly Notifier[],
  notice: HandOffNotice,
  pipeline: ResiliencePipeline,
  now: () => number,
  report: (notifier: string, outcome: 'delivered' | 'failed', attempts: number) => void,
): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  for (const notifier of notifiers) {
    let attempts = 0;
    let outcome: 'delivered' | 'failed' = 'delivered';
    let detail = notifier.name;
    try {
      await pipeline.execute(
        async (ctx) => {
          attempts = ctx.attempt;
          await notifier.notify(notice, { signal: ctx.signal });
        },
        { operation: `hand-off notify ${notifier.name}` },
      );
    } catch (error) {
      outcome = 'failed';
      const failure = describeFailure(error);
      detail = `${notifier.name}: ${failure.type}: ${failure.message}`;
    }
    detail += ` (${attempts} attempt${attempts === 1 ? '' : 's'})`;
    report(notifier.name, outcome, attempts);
    entries.push({ at: now(), kind: 'notification', step: notice.task.step, task: notice.task.id, outcome, detail });
  }
  return entries;
}
