/**
 * Shapes of the notifiers a team wires to a workflow's `notifiers` option, besides the
 * shipped `webhookNotifier`: Slack (an incoming webhook, Block Kit message) and email
 * (through whatever mail client the service already has). Each is a `Notifier`: a name
 * (kept in the run's audit trail) and `notify(notice)`; a failure is retried, then
 * recorded — the hand-off is stored before any notifier runs, so it is never lost.
 */
import { type HandOffNotice, type Notifier, webhookNotifier } from 'otel-resilience';

/** One line a person can act on. */
function headline(notice: HandOffNotice): string {
  const incident = notice.task.incident;
  return notice.kind === 'hand-off'
    ? `Run ${notice.runId} (${notice.workflow}) needs a person: step ${notice.task.step} failed — ${incident?.error.type}: ${incident?.error.message}`
    : `Run ${notice.runId} (${notice.workflow}) asks for approval: ${notice.task.request?.summary}`;
}

/** Posts to a Slack incoming webhook (https://api.slack.com/messaging/webhooks) as a Block Kit message. */
export function slackNotifier(webhookUrl: string): Notifier {
  return webhookNotifier({
    url: webhookUrl,
    name: 'slack',
    body: (notice) => ({
      text: headline(notice),
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: `*${headline(notice)}*` } },
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: [
              notice.traceUrl === undefined ? undefined : `<${notice.traceUrl}|Trace>`,
              `\`${notice.commands.show}\``,
              `\`${notice.commands.approve}\``,
            ]
              .filter(Boolean)
              .join('\n'),
          },
        },
      ],
    }),
  });
}

/** Something that sends mail (nodemailer's `transporter.sendMail` fits). */
export type SendMail = (message: { to: string; subject: string; text: string }) => Promise<unknown>;

/** Emails `to` through `send`. */
export function emailNotifier(send: SendMail, to: string): Notifier {
  return {
    name: 'email',
    notify: (notice) =>
      send({
        to,
        subject: headline(notice),
        text: [
          headline(notice),
          '',
          `Trace: ${notice.traceUrl ?? '-'}`,
          `Show:    ${notice.commands.show}`,
          `Approve: ${notice.commands.approve}`,
          `Reject:  ${notice.commands.reject}`,
        ].join('\n'),
      }),
  };
}
