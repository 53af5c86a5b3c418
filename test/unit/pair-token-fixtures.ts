/**
 * Tokens as a hostile or broken phone could make them: any field values, with a correct checksum, so
 * that what is tested is the desktop's check of each field and not the checksum.
 */
import { createHash } from 'node:crypto';

/** An ed25519 public key blob of the right shape (what sshd puts in ssh_host_ed25519_key.pub). */
export function ed25519Key(fill = 7): string {
  const type = Buffer.from('ssh-ed25519');
  const blob = Buffer.alloc(4 + type.length + 4 + 32, fill);
  blob.writeUInt32BE(type.length, 0);
  type.copy(blob, 4);
  blob.writeUInt32BE(32, 4 + type.length);
  return `ssh-ed25519 ${blob.toString('base64')}`;
}

export const GOOD_WIRE = {
  u: 'u0_a311',
  h: ['192.168.1.20', 'fd00::1'],
  p: 8022,
  d: '~/selesta/resonance.sqlite3',
  n: 'selesta',
  k: [ed25519Key()],
};

export function rawToken(wire: unknown): string {
  const payload = Buffer.from(JSON.stringify(wire), 'utf8').toString('base64url');
  const sum = createHash('sha256').update(payload, 'utf8').digest().subarray(0, 6).toString('base64url');
  return `rspair1:${payload}.${sum}`;
}

export function encodeForTest(overrides: Partial<Record<keyof typeof GOOD_WIRE, unknown>>): string {
  return rawToken({ ...GOOD_WIRE, ...overrides });
}
