/**
 * Secrets the platform must keep and use again (Matrix access tokens), encrypted at
 * rest with AES-256-GCM under a key derived from SECRET_KEY for one purpose (HKDF), so
 * the database alone reveals nothing and a value sealed for one use opens for no other.
 *
 * Sealed form: `mxs1.{key id}.{iv}.{ciphertext}.{tag}` (base64url). The key id names the
 * SECRET_KEY that sealed it: after a rotation, keys listed as previous still open old
 * values, and `needsReseal` says which to seal again under the current key.
 */
import crypto from 'node:crypto';

const VERSION = 'mxs1';

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

interface Key {
  id: string;
  bytes: Buffer;
}

function deriveKey(secretKey: string, purpose: string): Key {
  const bytes = Buffer.from(crypto.hkdfSync('sha256', secretKey, 'mxos-secret-box', purpose, 32));
  const id = crypto.createHash('sha256').update(bytes).digest('base64url').slice(0, 8);
  return { id, bytes };
}

export class SecretBox {
  private readonly current: Key;
  private readonly byId: Map<string, Key>;

  /** `previousKeys`: SECRET_KEYs rotated out whose sealed values must still open. */
  constructor(
    secretKey: string,
    private readonly purpose: string,
    previousKeys: readonly string[] = [],
  ) {
    if (secretKey.length < 32) throw new SecretBoxError('SECRET_KEY must be at least 32 characters to seal secrets.');
    this.current = deriveKey(secretKey, purpose);
    this.byId = new Map([this.current, ...previousKeys.map((k) => deriveKey(k, purpose))].map((k) => [k.id, k]));
  }

  seal(plaintext: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.current.bytes, iv);
    cipher.setAAD(Buffer.from(`${VERSION}\0${this.purpose}\0${this.current.id}`));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.current.id, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** The plaintext, or SecretBoxError when the value was tampered with, sealed for another purpose, or under an unknown key. */
  open(sealed: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new SecretBoxError('Not a sealed secret.');
    const [, id, iv, ciphertext, tag] = parts as [string, string, string, string, string];
    const key = this.byId.get(id);
    if (!key) throw new SecretBoxError('Sealed under a SECRET_KEY this platform no longer has: list it in SECRET_KEY_PREVIOUS to open it.');
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', key.bytes, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(`${VERSION}\0${this.purpose}\0${id}`));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError('A sealed secret does not open: it was changed, or sealed for another purpose.');
    }
  }

  /** True when `sealed` opens only with a previous key: seal it again under the current one. */
  needsReseal(sealed: string): boolean {
    return sealed.split('.')[1] !== this.current.id;
  }
}
