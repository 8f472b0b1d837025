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

/** The class declaring a method: the instance's prototype chain or the class itself (static). */
function declaringClassName(self: unknown, key: PropertyKey, method: unknown): string | undefined {
  let holder: unknown = self;
  while (holder !== null && (typeof holder === 'object' || typeof holder === 'function')) {
    const own = Object.getOwnPropertyDescriptor(holder, key);
    if (own?.value === method) {
      return typeof holder === 'function' ? holder.name : (holder as { constructor?: { name?: string } }).constructor?.name;
    }
    holder = Object.getPrototypeOf(holder);
  }
  return undefined;
}

/**
 * Turns `wrap` into a method decorator that works in both flavours. The qualified name
 * is `DeclaringClass.method` in both (legacy sees the declaring class at decoration
 * time; for TC39 it is found on the first call from the receiver's prototype chain),
 * so an inherited method is named after the class that declares it.
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
      const wrapped = wrap(target as AnyFunction, (self) => {
        if (resolved !== undefined) return resolved;
        const owner = declaringClassName(self, key, wrapped);
        if (owner === undefined) return methodName;
        resolved = `${owner}.${methodName}`;
        return resolved;
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

/** Gives `wrapper` the `name` and `length` of `original`. */
export function preserveShape<F extends AnyFunction>(wrapper: F, original: AnyFunction): F {
  Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true });
  return wrapper;
}
