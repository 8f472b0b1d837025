/**
 * One decorator factory for both decorator flavours TypeScript compiles:
 * TC39 standard decorators call `(method, context)`, legacy `experimentalDecorators`
 * call `(target, key, descriptor)`.
 */

/** Any function or method (the decorators accept every shape). */
export type AnyFunction = (this: any, ...args: any[]) => any;

/** Gives the qualified `Class.method` name for the receiver of a call. */
export type NameOf = (self: unknown) => string;

/** Wraps `method`, whose qualified name `nameOf(this)` gives, into its replacement. */
export type MethodWrapper = (method: AnyFunction, nameOf: NameOf) => AnyFunction;

function isTc39Context(value: unknown): value is ClassMethodDecoratorContext {
  return typeof value === 'object' && value !== null && 'kind' in value;
}

/** Own property on every wrapper, pointing at the function it wraps (so stacked decorators find each other). */
const WRAPS: unique symbol = Symbol('otel-resilience wraps');

/** Whether `candidate` is `method` or a wrapper (of a wrapper ...) of it. */
function wrapsOrIs(candidate: unknown, method: unknown): boolean {
  let current = candidate;
  while (typeof current === 'function') {
    if (current === method) return true;
    current = (current as { [WRAPS]?: unknown })[WRAPS];
  }
  return false;
}

/**
 * The class declaring a method: the first holder on the receiver's prototype chain (or
 * the class itself, for a static method) whose own `key` is `method` or wraps it.
 */
function declaringClassName(self: unknown, key: PropertyKey, method: unknown): string | undefined {
  let holder: unknown = self;
  while (holder !== null && (typeof holder === 'object' || typeof holder === 'function')) {
    const own = Object.getOwnPropertyDescriptor(holder, key);
    if (own !== undefined && wrapsOrIs(own.value, method)) {
      return typeof holder === 'function' ? holder.name : (holder as { constructor?: { name?: string } }).constructor?.name;
    }
    holder = Object.getPrototypeOf(holder);
  }
  return undefined;
}

/**
 * Turns `wrap` into a method decorator that works in both flavours. The qualified name
 * is `DeclaringClass.method` in both, so an inherited method is named after the class
 * that declares it: legacy decorators see the class at decoration time; TC39 ones
 * resolve it through `context.addInitializer` when the class is defined (static
 * methods) or its first instance is constructed, so a detached call (`const f =
 * obj.method; f()`) keeps `Class.method`. Only a call before any instance exists
 * (`Class.prototype.method.call(x)`) resolves it from the receiver instead. Minifiers
 * rename classes: keep names (esbuild `keepNames`) or pass the decorator's `name`.
 *
 * @throws TypeError when applied to anything but a method
 */
export function methodDecorator(decoratorName: string, wrap: MethodWrapper) {
  return function decorate(target: unknown, keyOrContext: unknown, descriptor?: PropertyDescriptor): any {
    if (isTc39Context(keyOrContext)) {
      if (keyOrContext.kind !== 'method') {
        throw new TypeError(`@${decoratorName} decorates methods, not a ${keyOrContext.kind} (${String(keyOrContext.name)})`);
      }
      const key = keyOrContext.name;
      const methodName = typeof key === 'symbol' ? (key.description ?? 'symbol') : key;
      let resolved: string | undefined;
      const resolve = (self: unknown) => {
        const owner = declaringClassName(self, key, wrapped);
        if (owner !== undefined) resolved = `${owner}.${methodName}`;
      };
      const wrapped = wrap(target as AnyFunction, (self) => {
        if (resolved === undefined) resolve(self);
        return resolved ?? methodName;
      });
      keyOrContext.addInitializer(function (this: unknown) {
        if (resolved === undefined) resolve(this);
      });
      return wrapped;
    }
    if (descriptor === undefined || typeof descriptor.value !== 'function') {
      throw new TypeError(`@${decoratorName} decorates methods, not ${String(keyOrContext)}`);
    }
    const owner = typeof target === 'function' ? target : (target as { constructor: AnyFunction }).constructor;
    const key = keyOrContext as PropertyKey;
    const qualified = `${owner.name}.${typeof key === 'symbol' ? (key.description ?? 'symbol') : key}`;
    descriptor.value = wrap(descriptor.value, () => qualified);
    return descriptor;
  };
}

/** The reflect-metadata API, where a polyfill (`reflect-metadata`) installed it. */
interface MetadataReflect {
  getOwnMetadataKeys(target: object): unknown[];
  getOwnMetadata(key: unknown, target: object): unknown;
  defineMetadata(key: unknown, value: unknown, target: object): void;
}

const SHAPE = new Set<PropertyKey>(['name', 'length', 'prototype', 'arguments', 'caller']);

/**
 * Gives `wrapper` what other decorators put on `original`, whatever the decorator
 * order: its `name` and `length`, its other own properties, and its reflect metadata
 * (`Reflect.defineMetadata`, e.g. NestJS routes from `@Get()` written below ours).
 * Never throws: what cannot be copied is left.
 */
export function preserveShape<F extends AnyFunction>(wrapper: F, original: AnyFunction): F {
  Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true });
  Object.defineProperty(wrapper, WRAPS, { value: original });
  for (const key of Reflect.ownKeys(original)) {
    if (SHAPE.has(key) || key === WRAPS) continue;
    try {
      Object.defineProperty(wrapper, key, Object.getOwnPropertyDescriptor(original, key)!);
    } catch {
      // A non-configurable clash: leave it.
    }
  }
  const reflect = Reflect as unknown as Partial<MetadataReflect>;
  if (typeof reflect.getOwnMetadataKeys === 'function' && typeof reflect.defineMetadata === 'function') {
    try {
      for (const key of reflect.getOwnMetadataKeys(original)) {
        reflect.defineMetadata(key, reflect.getOwnMetadata!(key, original), wrapper);
      }
    } catch {
      // A broken polyfill: the wrapper keeps what it has.
    }
  }
  return wrapper;
}
