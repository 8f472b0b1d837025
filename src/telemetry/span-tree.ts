import { type Attributes, type HrTime, type SpanContext, SpanStatusCode } from '@opentelemetry/api';
import { causalPosition } from './clock.js';
import { ATTR_ERROR_TYPE } from './names.js';

/** The parts of an SDK `ReadableSpan` the printer reads (structural, so the core needs no SDK). */
export interface PrintableSpan {
  readonly name: string;
  spanContext(): SpanContext;
  readonly parentSpanContext?: SpanContext | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly status: { code: SpanStatusCode; message?: string };
  readonly attributes: Attributes;
  readonly events: ReadonlyArray<{ name: string; time: HrTime; attributes?: Attributes }>;
}

const ms = (time: HrTime) => time[0] * 1e3 + time[1] / 1e6;
const round = (value: number) => (value >= 10 ? Math.round(value) : Math.round(value * 10) / 10);

/** Attributes worth a glance in a tree line: ours (prefix dropped) and `error.type`. */
function describe(attributes: Attributes | undefined, skip: ReadonlySet<string>): string {
  if (attributes === undefined) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (skip.has(key) || !(key.startsWith('resilience.') || key === ATTR_ERROR_TYPE)) continue;
    parts.push(`${key.replace(/^resilience\./, '')}=${String(value)}`);
  }
  return parts.length ? `  ${parts.join(' ')}` : '';
}

const SPAN_SKIP = new Set([ATTR_ERROR_TYPE]);
const EVENT_SKIP = new Set<string>();

/** Options of {@link printSpanTree}. */
export interface SpanTreeOptions {
  /** Show span durations and event offsets (default true); false gives stable output for snapshots. */
  readonly timings?: boolean;
}

function spanLine(span: PrintableSpan, timings: boolean): string {
  const duration = timings ? ` (${round(ms(span.endTime) - ms(span.startTime))} ms)` : '';
  const error =
    span.status.code === SpanStatusCode.ERROR ? `  ERROR ${String(span.attributes[ATTR_ERROR_TYPE] ?? '')}`.trimEnd() : '';
  return `${span.name}${duration}${error}${describe(span.attributes, SPAN_SKIP)}`;
}

type Event = PrintableSpan['events'][number];
type Item = { readonly at: number; readonly event?: Event; readonly span?: PrintableSpan };

const startMs = (span: PrintableSpan) => ms(span.startTime);

/**
 * A span's events and child spans in the order they happened. When every child started
 * under a `SpanClockProcessor`, that is the causal order: children by start sequence,
 * each after the events its parent had when it started, and events in the order they
 * were added — the same output for the same run, whatever the timestamps (equal under
 * fake timers). Otherwise by time, a child span before an event with the same timestamp.
 */
function itemsInOrder(span: PrintableSpan, children: readonly PrintableSpan[]): Item[] {
  const events = span.events.map((event): Item => ({ at: ms(event.time), event }));
  const positioned = children.map((child) => ({ child, position: causalPosition(child) }));
  if (positioned.every(({ position }) => position?.parentEvents !== undefined)) {
    positioned.sort((a, b) => a.position!.sequence - b.position!.sequence);
    const items: Item[] = [];
    let next = 0;
    for (const { child, position } of positioned) {
      while (next < Math.min(position!.parentEvents!, events.length)) items.push(events[next++]!);
      items.push({ at: startMs(child), span: child });
    }
    while (next < events.length) items.push(events[next++]!);
    return items;
  }
  return [...events, ...children.map((child): Item => ({ at: startMs(child), span: child }))].sort(
    (a, b) => a.at - b.at || (a.span ? 0 : 1) - (b.span ? 0 : 1),
  );
}

/** Root spans by start sequence when all have one (see {@link itemsInOrder}), else by start time. */
function rootsInOrder(roots: PrintableSpan[]): PrintableSpan[] {
  const sequences = roots.map((root) => causalPosition(root)?.sequence);
  if (sequences.every((sequence) => sequence !== undefined)) {
    return roots
      .map((root, i) => ({ root, sequence: sequences[i]! }))
      .sort((a, b) => a.sequence - b.sequence)
      .map(({ root }) => root);
  }
  return [...roots].sort((a, b) => startMs(a) - startMs(b));
}

/**
 * Renders finished spans as an indented tree, one trace after another: each span with
 * its duration, `ERROR <error.type>` when failed and its `resilience.*` attributes;
 * its events (`• name +offset ms key=value`) and child spans interleaved in the order
 * they happened (causal order for spans recorded with a `SpanClockProcessor`, as
 * `installTestTracing()` and `startTelemetry()` do; time order otherwise). Spans whose
 * parent is not among `spans` are roots. Exception events are shown by name only.
 * With `{ timings: false }` the output has no times, for snapshot tests: the same run
 * gives the same text.
 */
export function printSpanTree(spans: readonly PrintableSpan[], options: SpanTreeOptions = {}): string {
  const timings = options.timings ?? true;
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const children = new Map<string, PrintableSpan[]>();
  const roots: PrintableSpan[] = [];
  for (const span of spans) {
    const parent = span.parentSpanContext?.spanId;
    if (parent !== undefined && ids.has(parent)) {
      const list = children.get(parent) ?? [];
      list.push(span);
      children.set(parent, list);
    } else {
      roots.push(span);
    }
  }
  const lines: string[] = [];
  const visit = (span: PrintableSpan, prefix: string, last: boolean, root: boolean) => {
    lines.push(root ? spanLine(span, timings) : `${prefix}${last ? '└─ ' : '├─ '}${spanLine(span, timings)}`);
    const inner = root ? '' : `${prefix}${last ? '   ' : '│  '}`;
    const start = startMs(span);
    const items = itemsInOrder(span, children.get(span.spanContext().spanId) ?? []);
    items.forEach((item, index) => {
      const isLast = index === items.length - 1;
      if (item.span) {
        visit(item.span, inner, isLast, false);
      } else {
        const event = item.event!;
        const detail = event.name === 'exception' ? '' : describe(event.attributes, EVENT_SKIP);
        const offset = timings ? ` +${round(item.at - start)} ms` : '';
        lines.push(`${inner}${isLast ? '└─ ' : '├─ '}• ${event.name}${offset}${detail}`);
      }
    });
  };
  for (const root of rootsInOrder(roots)) visit(root, '', true, true);
  return lines.join('\n');
}
