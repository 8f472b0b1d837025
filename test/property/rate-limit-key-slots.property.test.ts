/**
 * The keyed limiter's key table (KeySlots) against a Map as the model: over any sequence
 * of adds, lookups and sweeps, every held key maps to the slot it was given, no other
 * key is found, no two held keys share a slot, and slots stay dense (a freed slot is
 * handed out before a new one).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeySlots } from '../../src/policies/key-slots.js';

/** Few distinct keys, so sequences revisit them; any strings, non-ASCII included. */
const key = fc.oneof(
  fc.integer({ min: 0, max: 60 }).map((n) => `k${n}`),
  fc.string({ maxLength: 4 }),
);
const op = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), key }),
  fc.record({ kind: fc.constant('get' as const), key }),
  fc.record({ kind: fc.constant('sweep' as const), modulo: fc.integer({ min: 1, max: 4 }), rest: fc.nat(3) }),
);

describe('KeySlots (property)', () => {
  it('agrees with a Map over any sequence of adds, lookups and sweeps', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const slots = new KeySlots();
        const model = new Map<string, number>();
        let used = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            if (model.has(o.key)) continue; // add takes keys not held
            const freed = model.size < used;
            const slot = slots.add(o.key);
            if (freed) expect(slot).toBeLessThan(used);
            else expect(slot).toBe(used++);
            expect([...model.values()]).not.toContain(slot);
            model.set(o.key, slot);
          } else if (o.kind === 'get') {
            expect(slots.get(o.key)).toBe(model.get(o.key) ?? -1);
          } else {
            const drop = (slot: number) => slot % o.modulo === o.rest % o.modulo;
            slots.removeWhere(drop);
            for (const [k, slot] of model) if (drop(slot)) model.delete(k);
          }
          expect(slots.size).toBe(model.size);
          expect(slots.used).toBe(used);
        }
        for (const [k, slot] of model) expect(slots.get(k)).toBe(slot);
      }),
      { numRuns: 300 },
    );
  });
});
