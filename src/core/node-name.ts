/**
 * Node and peer names: what the config, the CLI and the agent accept as a name, and how a name is
 * made from text that is not one (a host name, a file name). Names appear in notes ("Synced 3
 * entries from main_device"), file names and log lines, so they stay short and plain.
 */

export const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const NODE_NAME_RULE = 'must start with a letter or digit and contain only letters, digits, "_", "." and "-"';

export function isNodeName(text: string): boolean {
  return NODE_NAME.test(text);
}

/** A name from any text: characters outside the rule become "_"; nothing usable gives `fallback`. */
export function toNodeName(text: string, fallback = 'node'): string {
  const name = text.replace(/[^A-Za-z0-9_.-]/g, '_');
  return isNodeName(name) ? name : fallback;
}
