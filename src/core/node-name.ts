/**
 * Node names and ids: what the config, the CLI and the agent accept as a name, how a name is made
 * from text that is not one (a host name, a file name), and what a node id looks like. Names appear
 * in notes ("Synced 3 entries from main_device"), file names and log lines, so they stay short and
 * plain; ids are what store/prepare.ts makes (crypto.randomUUID: lowercase, 36 characters).
 */

/** Longest name: room for any host name (253 characters), short enough for a note or a log line. */
export const MAX_NODE_NAME_LENGTH = 255;
export const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;
export const NODE_NAME_RULE = `must start with a letter or digit, contain only letters, digits, "_", "." and "-", and be at most ${MAX_NODE_NAME_LENGTH} characters`;

export function isNodeName(text: string): boolean {
  return NODE_NAME.test(text);
}

/** A name from any text: characters outside the rule become "_"; nothing usable gives `fallback`. */
export function toNodeName(text: string, fallback = 'node'): string {
  const name = text.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, MAX_NODE_NAME_LENGTH);
  return isNodeName(name) ? name : fallback;
}

/** A node id as store/prepare.ts makes them (crypto.randomUUID()); origins in the feed are node ids too. */
export const NODE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isNodeId(text: unknown): text is string {
  return typeof text === 'string' && NODE_ID.test(text);
}
