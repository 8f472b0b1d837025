/**
 * PostgreSQL errors (node-postgres: a five-character SQLSTATE `code` plus `severity`).
 */
import type { Bag, Finding, Verdict } from './classification.js';

/**
 * SQLSTATE classes and codes worth retrying: connection exceptions (class 08),
 * serialization failure (40001), deadlock (40P01), the server shutting down or starting
 * (57P01–57P03); too many connections (53300) is a rate limit; query_canceled (57014,
 * a statement timeout or a cancel request) a timeout; the rest permanent.
 */
function verdictOfSqlState(state: string): Verdict {
  if (state.startsWith('08') || ['40001', '40P01', '57P01', '57P02', '57P03'].includes(state)) return 'transient';
  if (state === '53300') return 'rate-limited';
  if (state === '57014') return 'timeout';
  return 'permanent';
}

/** Classifies a node-postgres error by its SQLSTATE, or returns undefined for other errors. */
export function classifyPostgres(error: Bag): Finding | undefined {
  const code = error.code;
  if (typeof code !== 'string' || typeof error.severity !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return undefined;
  return { verdict: verdictOfSqlState(code), code };
}
