/** Whether an OpenTelemetry SDK already registered the global tracer provider. */
import { ProxyTracerProvider, type TracerProvider, trace } from '@opentelemetry/api';

/**
 * The tracer provider registered globally (by NodeSDK, `startTelemetry()` or anyone),
 * or undefined while none is. Reads only: the API hands out its proxy until a provider
 * is registered, and the registered provider itself afterwards.
 */
export function registeredTracerProvider(): TracerProvider | undefined {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider ? undefined : provider;
}
