/**
 * Identifiers and secrets shaped like Conduit's: utils::random_string (ASCII
 * alphanumerics) for access tokens (32), device ids (10), UIAA sessions (32) and
 * the localparts of random users (10, lowercased); v1 room ids (`!` + 18
 * characters + `:server`); and reference hashes (43 characters of unpadded
 * URL-safe base64) for event ids and room version 12 room ids. They are derived
 * from a seed and a counter, so a double started with the same seed hands out the
 * same ids in the same order.
 */
import { createHash } from 'node:crypto';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export class Ids {
  private counter = 0;

  constructor(private readonly seed: string) {}

  private digest(kind: string): Buffer {
    this.counter += 1;
    return createHash('sha256').update(`${this.seed}\0${kind}\0${this.counter}`).digest();
  }

  /** utils::random_string(length). */
  randomString(length: number, kind = 'string'): string {
    let out = '';
    while (out.length < length) {
      for (const byte of this.digest(kind)) {
        // 248 = 4 × 62: keeps the alphabet uniform.
        if (byte < 248) out += ALPHANUMERIC.charAt(byte % 62);
        if (out.length === length) break;
      }
    }
    return out;
  }

  accessToken(): string {
    return this.randomString(32, 'token');
  }

  deviceId(): string {
    return this.randomString(10, 'device');
  }

  session(): string {
    return this.randomString(32, 'session');
  }

  /** A reference hash: sha256, unpadded URL-safe base64 (43 characters). */
  referenceHash(): string {
    return this.digest('hash').toString('base64url');
  }

  eventId(): string {
    return `$${this.referenceHash()}`;
  }

  /** Room ids of room versions up to 11 (RoomId::new_v1); version 12 uses `!` + the create event's hash. */
  roomIdV1(serverName: string): string {
    return `!${this.randomString(18, 'room')}:${serverName}`;
  }
}
