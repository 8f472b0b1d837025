/**
 * Dense integer slots for string keys: the index of a keyed rate limiter's buckets.
 *
 * Why not a `Map<string, number>`: at a million keys a V8 `Map.get` costs ~500–700 ns in
 * a real call (measured, see the keyed-limiter rows of `npm run bench`), because its
 * chained buckets send a lookup through two or three cache and TLB misses — the bucket,
 * then each entry of the chain and that entry's key string, to compare hashes. Here a
 * lookup is one probe into an open-addressed table of `[hash, slot]` pairs (linear
 * probing, at most half full), so a hit costs one miss into the table plus the key it
 * compares with; the slots are handed out densely, so the caller's per-slot state is a
 * flat array. The hash is seeded at random per table, so keys chosen by a client cannot
 * be crafted to collide (hash flooding) without knowing the seed.
 */

/** FNV-1a over the UTF-16 code units from `seed`, then the murmur3 finalizer (the table indexes by the low bits). */
function hashOf(key: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Smallest table (buckets); a power of two. */
const MIN_BUCKETS = 16;

/** String keys to dense slots `0 … used-1`; slots of removed keys are handed out again. */
export class KeySlots {
  private readonly seed = (Math.random() * 0x1_0000_0000) | 0;
  /** Per bucket `[hash, slot + 1]`; 0 in the second place: empty. */
  private table = new Int32Array(2 * MIN_BUCKETS);
  private mask = MIN_BUCKETS - 1;
  /** Per slot its key (`undefined`: free) and its hash, to rebuild the table without hashing again. */
  private readonly keys: (string | undefined)[] = [];
  private hashes = new Int32Array(MIN_BUCKETS);
  private readonly free: number[] = [];
  /** Keys held. */
  size = 0;

  /** The slot of `key`, or -1. */
  get(key: string): number {
    const h = hashOf(key, this.seed);
    const table = this.table;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const slot = table[2 * i + 1]! - 1;
      if (slot < 0) return -1;
      if (table[2 * i] === h && this.keys[slot] === key) return slot;
    }
  }

  /** Adds `key`, which must not be held yet; returns its slot (a free one if any, else `used`). */
  add(key: string): number {
    const h = hashOf(key, this.seed);
    const slot = this.free.pop() ?? this.keys.length;
    if (slot === this.keys.length) {
      this.keys.push(key);
      if (slot === this.hashes.length) {
        const grown = new Int32Array(2 * slot);
        grown.set(this.hashes);
        this.hashes = grown;
      }
    } else {
      this.keys[slot] = key;
    }
    this.hashes[slot] = h;
    this.size++;
    if (2 * this.size > this.mask + 1) this.rebuild(2 * (this.mask + 1));
    else this.place(h, slot);
    return slot;
  }

  /** One past the highest slot handed out so far: the length the caller's per-slot state needs. */
  get used(): number {
    return this.keys.length;
  }

  /** Removes every key whose slot `drop` returns true for, freeing its slot; O(slots). */
  removeWhere(drop: (slot: number) => boolean): void {
    let removed = 0;
    for (let slot = 0; slot < this.keys.length; slot++) {
      if (this.keys[slot] !== undefined && drop(slot)) {
        this.keys[slot] = undefined;
        this.free.push(slot);
        removed++;
      }
    }
    if (removed === 0) return;
    this.size -= removed;
    let buckets = MIN_BUCKETS;
    while (buckets < 2 * this.size) buckets *= 2;
    this.rebuild(buckets);
  }

  /** A new table of `buckets` buckets holding every key. */
  private rebuild(buckets: number): void {
    this.table = new Int32Array(2 * buckets);
    this.mask = buckets - 1;
    for (let slot = 0; slot < this.keys.length; slot++) {
      if (this.keys[slot] !== undefined) this.place(this.hashes[slot]!, slot);
    }
  }

  private place(h: number, slot: number): void {
    const table = this.table;
    let i = h & this.mask;
    while (table[2 * i + 1] !== 0) i = (i + 1) & this.mask;
    table[2 * i] = h;
    table[2 * i + 1] = slot + 1;
  }
}
