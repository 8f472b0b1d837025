/**
 * Composite keys that cannot collide: `keyOf('A', 'b:c')` and `keyOf('A:b', 'c')` differ.
 * Every part but the last has `%` and `:` percent-encoded, so the first unencoded `:`
 * ends the first part; the last part is kept as it is (readable in the common case,
 * e.g. `Mailer.send:ada@example.com`).
 */
export function keyOf(...parts: string[]): string {
  const last = parts.length - 1;
  return parts.map((part, i) => (i === last ? part : part.replaceAll('%', '%25').replaceAll(':', '%3A'))).join(':');
}
