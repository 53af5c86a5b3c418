/**
 * What a tool call answers, success or failure, in the MCP shapes.
 *
 * A failure the user or the agent can act on (a SyncError: an unknown peer, a locked or missing
 * database, a bad argument) is a tool execution error, as the MCP spec asks: a result with
 * `isError: true`, so the model sees it and can correct itself. Its text is the CLI's one line,
 * `message [CODE]`, and `structuredContent.error` carries `{code, message}` with the stable code of
 * src/core/errors.ts. Anything else thrown is a bug and is reported the same way with code INTERNAL.
 * Protocol errors (an unknown tool, arguments that do not match the schema) are the SDK's to answer.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { asSyncError } from '../core/errors.js';

/** A success: the value as structured content, and as JSON text for hosts that read only text. */
export function jsonResult(value: object, isError = false): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(value, null, 2) }],
    structuredContent: value as Record<string, unknown>,
    ...(isError ? { isError: true } : {}),
  };
}

export function errorResult(thrown: unknown): CallToolResult {
  const error = asSyncError(thrown);
  return {
    content: [{ type: 'text', text: `${error.message} [${error.code}]` }],
    structuredContent: { error: { code: error.code, message: error.message } },
    isError: true,
  };
}

/** Runs a tool's work; a thrown error becomes its isError result. */
export async function toolCall(work: () => CallToolResult | Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await work();
  } catch (thrown) {
    return errorResult(thrown);
  }
}
