import { createNoopMeter, type Meter, type MeterProvider, metrics } from '@opentelemetry/api';
import * as names from './names.js';

/**
 * A getter of what `build` makes from the SDK's meter, built once per global meter
 * provider; undefined while none is registered (the no-op meter: nothing is measured).
 * Never throws.
 */
export function perMeterProvider<T>(build: (meter: Meter) => T): () => T | undefined {
  let provider: MeterProvider | undefined;
  let built: T | undefined;
  return () => {
    try {
      const current = metrics.getMeterProvider();
      if (current === provider) return built;
      provider = current;
      const meter = current.getMeter(names.INSTRUMENTATION_SCOPE);
      built = meter === createNoopMeter() ? undefined : build(meter);
      return built;
    } catch {
      return undefined;
    }
  };
}
