/**
 * The resource detectors `startTelemetry()` gives the NodeSDK: the NodeSDK's own default
 * set, with `host.id` left out — it is read asynchronously, and while a resource waits
 * for it the SDK's `SimpleSpanProcessor` holds every span back, so an in-memory exporter
 * read right after a call would be empty.
 */
import { createRequire } from 'node:module';
import { arch, hostname } from 'node:os';
import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';

type Detector = NodeSDKConfiguration['resourceDetectors'][number];

/** `host.arch` values of the semantic conventions for Node's `os.arch()`. */
const ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  ia32: 'x86',
  arm: 'arm32',
  ppc64: 'ppc64',
  s390x: 's390x',
};

/** `host.name` and `host.arch`, both known at once. */
const hostNowDetector: Detector = {
  detect: () => ({ attributes: { 'host.name': hostname(), 'host.arch': ARCH[arch()] ?? arch() } }),
};

/**
 * `[serviceInstanceIdDetector, processDetector, hostNowDetector, osDetector, envDetector]`
 * (env last: `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` win), taken from the
 * `@opentelemetry/resources` that the installed NodeSDK itself uses; undefined (the
 * NodeSDK's defaults then) when it cannot be loaded.
 */
export function defaultResourceDetectors(): Detector[] | undefined {
  try {
    const local = createRequire(import.meta.url);
    const fromSdk = createRequire(local.resolve('@opentelemetry/sdk-node'));
    const resources = fromSdk('@opentelemetry/resources') as Record<string, Detector | undefined>;
    const { serviceInstanceIdDetector, processDetector, osDetector, envDetector } = resources;
    if (!serviceInstanceIdDetector || !processDetector || !osDetector || !envDetector) return undefined;
    return [serviceInstanceIdDetector, processDetector, hostNowDetector, osDetector, envDetector];
  } catch {
    return undefined;
  }
}
