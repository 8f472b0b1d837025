/** Whether an OpenTelemetry SDK already registered the global tracer provider. */
import { type TracerProvider, trace } from '@opentelemetry/api';
import { INSTRUMENTATION_SCOPE } from '../telemetry/names.js';

/** The API's global proxy: it delegates to the registered provider once there is one. */
interface ProxyProvider extends TracerProvider {
  getDelegate(): TracerProvider;
  getDelegateTracer(name: string): unknown;
}

/**
 * The tracer provider registered globally (by NodeSDK, `startTelemetry()` or anyone),
 * or undefined while none is. Reads only: the API registers its proxy and sets the
 * provider as the proxy's delegate, so the delegate is what was registered.
 */
export function registeredTracerProvider(): TracerProvider | undefined {
  const provider = trace.getTracerProvider() as Partial<ProxyProvider> & TracerProvider;
  if (typeof provider.getDelegate !== 'function' || typeof provider.getDelegateTracer !== 'function') return provider;
  return provider.getDelegateTracer(INSTRUMENTATION_SCOPE) === undefined ? undefined : provider.getDelegate();
}
