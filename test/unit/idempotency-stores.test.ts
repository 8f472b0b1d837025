import { MemoryIdempotencyStore } from '../../src/index.js';
import { describeIdempotencyStoreConformance } from '../support/idempotency-store-conformance.js';

describeIdempotencyStoreConformance('MemoryIdempotencyStore', async (clock) => new MemoryIdempotencyStore({ clock }));
