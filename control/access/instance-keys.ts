/**
 * Which instance a key it was given (the meter key, the social key) belongs to,
 * without a database read per call: an index
 * kept beside the route table (which follows every transition, rotation and suspension
 * in this process at once, and other replicas' within a second). Only SHA-256 digests
 * of the keys are held, and a presented key is looked up by its digest and compared in
 * constant time, so neither the table nor a timing side channel gives a key away.
 */
import crypto from 'node:crypto';
import { type CredentialPurpose, deriveCredential } from './credentials.ts';

/** What the index needs of a route. */
export interface MeteredRoute {
  handle: string;
  ownerId: string;
  suspended: boolean;
  tokenGeneration: number;
}

/** The route table, as far as the index reads it. */
export interface RouteSource<R extends MeteredRoute> {
  values(): IterableIterator<R>;
  onChange(listener: (handle: string, before: R | undefined, after: R | undefined) => void): void;
}

export interface Tenant {
  handle: string;
  ownerId: string;
}

const digest = (key: string) => crypto.createHash('sha256').update(key).digest();

export class InstanceKeys {
  /** hex digest of the current key -> handle. */
  private readonly byDigest = new Map<string, { handle: string; digest: Buffer }>();
  /** handle -> hex digest, to drop a rotated key at once. */
  private readonly byHandle = new Map<string, string>();
  private readonly routes = new Map<string, MeteredRoute>();

  constructor(
    private readonly secretKey: string,
    private readonly purpose: Extract<CredentialPurpose, 'meter-key' | 'social-key'>,
    source: RouteSource<MeteredRoute>,
  ) {
    for (const route of source.values()) this.set(route);
    source.onChange((handle, _before, after) => (after ? this.set(after) : this.drop(handle)));
  }

  /** The tenant a presented key belongs to; null for an unknown, rotated, destroyed or suspended one. */
  tenant(presented: string | undefined): Tenant | null {
    if (!presented || presented.length > 256) return null;
    const given = digest(presented);
    const entry = this.byDigest.get(given.toString('hex'));
    if (!entry || !crypto.timingSafeEqual(given, entry.digest)) return null;
    const route = this.routes.get(entry.handle);
    if (!route || route.suspended) return null;
    return { handle: route.handle, ownerId: route.ownerId };
  }

  private set(route: MeteredRoute): void {
    this.routes.set(route.handle, route);
    const d = digest(deriveCredential(this.secretKey, this.purpose, route.handle, route.tokenGeneration));
    const hex = d.toString('hex');
    if (this.byHandle.get(route.handle) === hex) return;
    this.drop(route.handle, false);
    this.byDigest.set(hex, { handle: route.handle, digest: d });
    this.byHandle.set(route.handle, hex);
  }

  private drop(handle: string, forgetRoute = true): void {
    const hex = this.byHandle.get(handle);
    if (hex) this.byDigest.delete(hex);
    this.byHandle.delete(handle);
    if (forgetRoute) this.routes.delete(handle);
  }
}
