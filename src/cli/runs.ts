/**
 * `otel-resilience runs list|show|approve|reject|resume|compensate`: the way back in for
 * a person — list the runs waiting for someone, show a run's incident (with its trace
 * link), decisions and audit trail, record a decision, and resume or give up a run.
 * Arguments are parsed with node:util `parseArgs`. `resume` and `compensate` need the
 * workflow's code: `--module <file>` is imported and the exported workflow of the run's
 * name is used (with the store it was defined with).
 */
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { decide, listRuns } from '../workflow/decide.js';
import { type AuditEntry, type HumanTask, untoldTask } from '../workflow/human.js';
import type { RunStatus, WorkflowRun } from '../workflow/workflow-store.js';
import { openStore } from './store.js';

/** Where a command writes. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export const USAGE = `Usage: otel-resilience runs <command> [run-id] --store <file:DIR | redis://HOST:PORT> [options]

Commands:
  list                    runs, most recent first (--status awaiting_human to see who waits)
  show <run-id>           status, incident with its trace link, decisions, audit trail
  approve <run-id>        go on; --payload JSON gives the step (or the approval) what to go on with
  reject <run-id>         give the run up: it compensates on resume
  resume <run-id>         continue the run here (--module FILE exporting the workflow)
  compensate <run-id>     undo the run's completed steps (--module FILE)
  notify <run-id>         tell the notifiers about the task the run waits on, if nobody was
                          told (its worker died notifying; list marks it) (--module FILE)

Options:
  --store SPEC            file:<directory> or redis://host:port (env OTEL_RESILIENCE_STORE)
  --key-prefix PREFIX     Redis key prefix of the workflow store
  --status STATUS         list: only runs in this status
  --by NAME               who decides or resumes (default: the OS user)
  --note TEXT             a note kept with the decision
  --payload JSON          approve: the payload to go on with
  --task ID               decide this task (default: the one the run awaits)
  --module FILE           resume/compensate/notify: the module that exports the workflow
  --otlp URL              resume/compensate: export the run's trace over OTLP/HTTP (or set
                          OTEL_EXPORTER_OTLP_ENDPOINT); --service NAME (default: the workflow)
  --json                  list/show: print JSON`;

const time = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString());

function waitingOn(run: WorkflowRun): string {
  const task = run.awaiting === undefined ? undefined : run.human?.[run.awaiting];
  if (task === undefined) return '-';
  const what = task.kind === 'hand-off' ? `hand-off of step ${task.step}` : `approval ${task.id}`;
  return untoldTask(run) === undefined ? what : `${what} (nobody told)`;
}

function auditLine(entry: AuditEntry): string {
  const parts = [time(entry.at), entry.kind.padEnd(18), (entry.step ?? '').padEnd(14)];
  if (entry.outcome !== undefined) parts.push(entry.outcome);
  if (entry.by !== undefined) parts.push(`by ${entry.by}`);
  if (entry.detail !== undefined) parts.push(`— ${entry.detail}`);
  return `  ${parts.join(' ').trimEnd()}`;
}

function taskLines(task: HumanTask): string[] {
  const lines = [`  ${task.id} (${task.kind}, step ${task.step}) requested ${time(task.requestedAt)}`];
  if (task.request !== undefined) {
    lines.push(`    request: ${task.request.summary}`);
    if (task.request.payload !== undefined) lines.push(`    proposed: ${JSON.stringify(task.request.payload)}`);
  }
  const incident = task.incident;
  if (incident !== undefined) {
    lines.push(`    error: ${incident.error.type}: ${incident.error.message}`);
    lines.push(`    attempts: ${incident.attempts}`, `    last completed step: ${incident.lastCompletedStep ?? '-'}`);
    lines.push(`    input: ${incident.input}`);
    lines.push(`    trace: ${incident.traceId ?? '-'}${incident.traceUrl === undefined ? '' : `  ${incident.traceUrl}`}`);
    for (const [step, output] of Object.entries(incident.outputs)) lines.push(`    output ${step}: ${output}`);
  }
  const d = task.decision;
  lines.push(
    d === undefined
      ? '    decision: pending'
      : `    decision: ${d.outcome} by ${d.by} at ${time(d.at)}${d.payload === undefined ? '' : ` payload ${JSON.stringify(d.payload)}`}${d.note === undefined ? '' : ` (${d.note})`}`,
  );
  return lines;
}

/** The text `runs show` prints. */
export function describeRun(run: WorkflowRun): string[] {
  const lines = [`Run ${run.runId} (workflow ${run.workflow}): ${run.status}`, `  updated: ${time(run.updatedAt)}`];
  if (run.status === 'awaiting_human') lines.push(`  waiting on: ${waitingOn(run)}`);
  if (run.error !== undefined)
    lines.push(`  error: ${run.error.name}: ${run.error.message}${run.error.step ? ` (step ${run.error.step})` : ''}`);
  lines.push(`  completed steps: ${Object.keys(run.steps).join(', ') || '-'}`);
  if (run.compensated.length > 0) lines.push(`  compensated: ${run.compensated.join(', ')}`);
  if (run.trace !== undefined) lines.push(`  last trace: ${run.trace.traceId}`);
  const tasks = Object.values(run.human ?? {});
  if (tasks.length > 0) lines.push('People', ...tasks.flatMap(taskLines));
  lines.push('Audit trail', ...(run.audit ?? []).map(auditLine));
  if ((run.audit ?? []).length === 0) lines.push('  (empty)');
  return lines;
}

interface Resumable {
  readonly name: string;
  resume(runId: string, options?: { by?: string }): Promise<unknown>;
  compensate(runId: string): Promise<unknown>;
  notify(runId: string): Promise<boolean>;
}

/** The workflow named `name` among the exports of `file`. */
async function workflowFrom(file: string, name: string): Promise<Resumable> {
  const exports = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  for (const value of Object.values(exports)) {
    const candidate = value as Partial<Resumable> | undefined;
    if (typeof candidate?.resume === 'function' && typeof candidate.compensate === 'function' && candidate.name === name) {
      return candidate as Resumable;
    }
  }
  throw new Error(`${file} exports no workflow named "${name}"`);
}

/**
 * Runs one CLI invocation (`argv` without node and the script); returns the exit code:
 * 0 done, 1 failed, 2 bad usage.
 */
export async function main(argv: readonly string[], output: Output): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    output.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { positionals, values } = parsed;
  const [group, command, runId] = positionals;
  if (values.help || group === undefined) {
    output.out(USAGE);
    return 0;
  }
  const needsId = ['show', 'approve', 'reject', 'resume', 'compensate', 'notify'];
  const spec = values.store ?? process.env.OTEL_RESILIENCE_STORE;
  if (
    group !== 'runs' ||
    command === undefined ||
    !['list', ...needsId].includes(command) ||
    (needsId.includes(command) && runId === undefined) ||
    spec === undefined
  ) {
    output.err(spec === undefined ? `Missing --store\n\n${USAGE}` : USAGE);
    return 2;
  }
  const by = values.by ?? userInfo().username;
  let opened: Awaited<ReturnType<typeof openStore>> | undefined;
  try {
    opened = await openStore(spec, values['key-prefix']);
    const { store } = opened;
    if (command === 'list') {
      const runs = await listRuns(store, values.status === undefined ? {} : { status: values.status as RunStatus });
      if (values.json) output.out(JSON.stringify(runs, null, 2));
      else {
        output.out(['RUN', 'WORKFLOW', 'STATUS', 'WAITING ON', 'UPDATED'].join('\t'));
        for (const run of runs) output.out([run.runId, run.workflow, run.status, waitingOn(run), time(run.updatedAt)].join('\t'));
      }
      return 0;
    }
    const loaded = await store.load(runId!);
    if (loaded === undefined) {
      output.err(`No run "${runId}" in ${spec}`);
      return 1;
    }
    const run = loaded.run;
    switch (command) {
      case 'show':
        output.out(values.json ? JSON.stringify(run, null, 2) : describeRun(run).join('\n'));
        return 0;
      case 'approve':
      case 'reject': {
        const payload = values.payload === undefined ? undefined : (JSON.parse(values.payload) as unknown);
        const task = values.task ?? run.awaiting;
        const kind = task === undefined ? undefined : run.human?.[task]?.kind;
        const outcome = command === 'reject' ? 'reject' : payload !== undefined && kind === 'approval' ? 'edit' : 'approve';
        const decided = await decide(
          store,
          runId!,
          {
            outcome,
            by,
            ...(payload === undefined ? {} : { payload }),
            ...(values.note === undefined ? {} : { note: values.note }),
          },
          values.task === undefined ? {} : { task: values.task },
        );
        output.out(
          `${decided.id} of run ${runId}: ${outcome} by ${by}. Resume it to go on${outcome === 'reject' ? ' (it compensates)' : ''}.`,
        );
        return 0;
      }
      default: {
        if (values.module === undefined) {
          output.err(`runs ${command} needs --module <file> exporting workflow "${run.workflow}"`);
          return 2;
        }
        const flow = await workflowFrom(values.module, run.workflow);
        const endpoint = values.otlp ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
        // Loaded only when asked for: the OpenTelemetry SDK packages are optional peers.
        const telemetry =
          endpoint === undefined
            ? undefined
            : (await import('../setup/index.js')).startTelemetry({
                serviceName: values.service ?? run.workflow,
                ...(values.otlp === undefined ? {} : { endpoint: values.otlp }),
              });
        try {
          if (command === 'notify') {
            const told = await Promise.resolve()
              .then(() => flow.notify(runId!))
              .catch((error: unknown) => error as Error);
            if (told instanceof Error) {
              output.err(`Run ${runId} not notified: ${told.name}: ${told.message}`);
              return 1;
            }
            if (!told) {
              output.out(`Run ${runId}: nobody to tell (told before, decided, not waiting, or no notifiers).`);
              return 0;
            }
            const audit = (await store.load(runId!))?.run.audit ?? [];
            const round = audit.slice(run.audit?.length ?? 0).filter((e) => e.kind === 'notification');
            output.out(`Run ${runId}: notified about ${run.awaiting}: ${round.map((e) => e.detail ?? e.outcome).join('; ')}.`);
            return round.some((e) => e.outcome === 'delivered') ? 0 : 1;
          }
          const result = command === 'resume' ? await flow.resume(runId!, { by }) : await flow.compensate(runId!);
          output.out(`Run ${runId} completed: ${JSON.stringify(result)}`);
          return 0;
        } catch (error) {
          const after = (await store.load(runId!))?.run;
          output.err(`Run ${runId} ${after?.status ?? 'failed'}: ${(error as Error).message}`);
          return after?.status === 'awaiting_human' || after?.status === 'compensated' ? 0 : 1;
        } finally {
          await telemetry?.shutdown();
        }
      }
    }
  } catch (error) {
    output.err(`${(error as Error).name}: ${(error as Error).message}`);
    return 1;
  } finally {
    await opened?.close();
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      store: { type: 'string' },
      'key-prefix': { type: 'string' },
      status: { type: 'string' },
      by: { type: 'string' },
      note: { type: 'string' },
      payload: { type: 'string' },
      task: { type: 'string' },
      module: { type: 'string' },
      otlp: { type: 'string' },
      service: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
