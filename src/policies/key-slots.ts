/**
 * Dense integer slots for string keys: the index of a keyed rate limiter's buckets.
 *
 * Why not a `Map<string, number>`: at a million keys a V8 `Map.get` costs ~500–700 ns in
 * a real call (measured, see the keyed-limiter rows of `npm run bench`), because its
 * chained buckets send a lookup through two or three cache and TLB misses — the bucket,
 * then each entry of the chain and that entry's key string, to compare hashes. Here a
 * lookup is one probe into an open-addressed table (linear probing) of one 32-bit word per
 * bucket: the key's slot in the low bits and, above them, low bits of its hash as a tag
 * that rules out almost every other key without reading it. The table is kept 65–80 %
 * full, growing by a quarter at a time, so at a million keys it is about 6 MB: a hit costs
 * one read of that table, mostly from cache, plus the key it compares with. (Linear
 * probing stays short up to about 80 % full: there a hit probes 3 buckets on average and
 * a miss 13, Knuth's analysis; at 87.5 % a miss already probes 32.) The slots are
 * handed out densely, so the caller's per-slot state is a flat array. The hash is seeded
 * at random per table, so keys chosen by a client cannot be crafted to collide (hash
 * flooding) without knowing the seed.
 */

/** FNV-1a over the UTF-16 code units from `seed`, then the murmur3 finalizer (the probe starts from the high bits, the tag takes the low ones). */
function hashOf(key: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Smallest table (buckets). */
const MIN_BUCKETS = 16;
/** Most keys per bucket before the table grows. */
const MAX_LOAD = 0.8;
/** Keys per bucket of a table just built: 65 % full, so growing (by a quarter) keeps it 65–80 % full and small. */
const BUILT_LOAD = 0.65;

/** The buckets of a table built for `keys` keys. */
function bucketsFor(keys: number): number {
  return Math.max(MIN_BUCKETS, Math.ceil(keys / BUILT_LOAD));
}

/**
 * The bucket `h` starts its probe at in a table of `buckets`: the high bits of `h`
 * scaled to the table ("fastrange", Lemire 2019: floor(h × buckets / 2^32)), exact for any
 * table size, so the table can grow by a quarter rather than double.
 */
function startOf(h: number, buckets: number): number {
  return Math.floor(((h >>> 16) * buckets + Math.floor(((h & 0xffff) * buckets) / 0x1_0000)) / 0x1_0000);
}

/** String keys to dense slots `0 … used-1`; slots of removed keys are handed out again. */
export class KeySlots {
  private readonly seed = (Math.random() * 0x1_0000_0000) | 0;
  /** Per bucket `tag | (slot + 1)`, the slot in the bits of `slotMask`; 0: empty. */
  private table = new Int32Array(MIN_BUCKETS);
  /** The low bits of a bucket that hold its slot + 1: enough for every slot handed out. */
  private slotMask = MIN_BUCKETS - 1;
  /** The width of `slotMask`: the low bits of the hash above it tag the bucket. */
  private slotBits = 4;
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
    const slotMask = this.slotMask;
    const tag = h << this.slotBits;
    for (let i = startOf(h, table.length); ; i = i + 1 === table.length ? 0 : i + 1) {
      const bucket = table[i]!;
      if (bucket === 0) return -1;
      const slot = (bucket & slotMask) - 1;
      if ((bucket & ~slotMask) === tag && this.keys[slot] === key) return slot;
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
    if (this.size > MAX_LOAD * this.table.length) this.rebuild(bucketsFor(this.size));
    else if (slot + 1 > this.slotMask) this.rebuild(this.table.length);
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
    this.rebuild(bucketsFor(this.size));
  }

  /** A new table of `buckets` buckets holding every key, its slot bits wide enough for every slot. */
  private rebuild(buckets: number): void {
    this.table = new Int32Array(buckets);
    while (this.slotMask < this.keys.length) {
      this.slotMask = 2 * this.slotMask + 1;
      this.slotBits++;
    }
    for (let slot = 0; slot < this.keys.length; slot++) {
      if (this.keys[slot] !== undefined) this.place(this.hashes[slot]!, slot);
    }
  }

  private place(h: number, slot: number): void {
    const table = this.table;
    let i = startOf(h, table.length);
    while (table[i] !== 0) i = i + 1 === table.length ? 0 : i + 1;
    table[i] = (h << this.slotBits) | (slot + 1);
  }
}
