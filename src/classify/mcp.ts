/**
 * The MCP TypeScript SDK (`@modelcontextprotocol/sdk`): `McpError` with a JSON-RPC error
 * `code` (the SDK's own −32000 ConnectionClosed and −32001 RequestTimeout, JSON-RPC's
 * −32700…−32603, MCP's), and the HTTP transports' `StreamableHTTPError` / `SseError`
 * whose numeric `code` is the HTTP status.
 */
import { type Bag, constructorName, type Finding, type Verdict } from './classification.js';

const JSON_RPC_VERDICTS: ReadonlyMap<number, Verdict> = new Map<number, Verdict>([
  [-32000, 'transient'], // ConnectionClosed: the transport closed under a pending request
  [-32603, 'transient'], // InternalError: the server failed
  [-32700, 'permanent'], // ParseError
  [-32600, 'permanent'], // InvalidRequest
  [-32601, 'permanent'], // MethodNotFound
  [-32602, 'permanent'], // InvalidParams (e.g. an unknown resource)
  [-32002, 'permanent'], // resource not found (MCP)
  [-32042, 'permanent'], // UrlElicitationRequired: a person must act first
]);

const REQUEST_TIMEOUT = -32001;

/**
 * Classifies an `McpError` (code as a string, `'-32001'`, as the JSON-RPC conventions
 * write `error.type`), or returns undefined for other errors. RequestTimeout is a
 * `timeout` when the SDK's own timer fired (its `data` holds the timeout); without
 * `data` the request's `signal` aborted it, and the SDK put the abort reason in the
 * message: a `TimeoutError` reason is a timeout, any other the caller's abort.
 * Application codes the SDK does not define say nothing (the default applies).
 */
export function classifyMcpError(error: Bag): Finding | undefined {
  const code = error.code;
  if (typeof code !== 'number' || !Number.isInteger(code) || error.name !== 'McpError') return undefined;
  let verdict = JSON_RPC_VERDICTS.get(code);
  if (code === REQUEST_TIMEOUT) {
    const timedOut = error.data !== undefined || (typeof error.message === 'string' && error.message.includes('TimeoutError'));
    verdict = timedOut ? 'timeout' : 'aborted';
  }
  return { verdict, code: String(code) };
}

/** The HTTP status of a Streamable HTTP or SSE transport error (its numeric `code`), or undefined. */
export function mcpTransportStatus(error: Bag): number | undefined {
  const code = error.code;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 100 || code > 599) return undefined;
  const name = constructorName(error);
  return name === 'StreamableHTTPError' || name === 'SseError' ? code : undefined;
}

/**
 * An expired session: a transport 404 whose body (in the message) speaks of the session,
 * as the MCP SDKs' servers answer a request with an unknown `Mcp-Session-Id`. The
 * Streamable HTTP spec has the client start a new session and send the request again,
 * so it is `transient` (code `MCP_SESSION_EXPIRED`) — for an attempt that reconnects;
 * another 404 (a wrong URL) stays permanent by its status.
 */
export function classifyMcpSessionExpiry(error: Bag): Finding | undefined {
  if (mcpTransportStatus(error) !== 404 || typeof error.message !== 'string' || !/session/i.test(error.message)) return undefined;
  return { verdict: 'transient', code: 'MCP_SESSION_EXPIRED' };
}
