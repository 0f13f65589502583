/**
 * Who the client is and which scheme it used, behind trusted proxies. Only a
 * configured trusted proxy (say cloudflared on the same host) may tell us; from anyone
 * else X-Forwarded-* are replaced by what we saw ourselves.
 */

import type { IncomingMessage } from 'node:http';
import net from 'node:net';

export class TrustedProxies {
  private readonly list = new net.BlockList();
  private readonly empty: boolean;

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [ip, bits] = entry.split('/');
      const family = net.isIP(ip!) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(ip!, family);
      else this.list.addSubnet(ip!, Number(bits), family);
    }
    this.empty = entries.length === 0;
  }

  trusts(address: string | undefined): boolean {
    if (this.empty || !address) return false;
    const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
    if (net.isIPv4(v4)) return this.list.check(v4, 'ipv4');
    return net.isIPv6(address) && this.list.check(address, 'ipv6');
  }

  /**
   * The client's address. From an untrusted peer: the peer. From a trusted proxy:
   * CF-Connecting-IP when it names an address (Cloudflare sets it, and cloudflared passes
   * it on), else, walking X-Forwarded-For from the right (each proxy appends the peer it
   * saw), the first hop that is not a trusted proxy. Entries further left are whatever
   * the client sent, so they never count.
   */
  clientAddress(req: IncomingMessage): string {
    const peer = normalize(req.socket.remoteAddress ?? '');
    if (!this.trusts(peer)) return peer;
    const connecting = single(req.headers['cf-connecting-ip'])?.trim();
    if (connecting && net.isIP(connecting)) return normalize(connecting);
    const hops = (single(req.headers['x-forwarded-for']) ?? '')
      .split(',')
      .map((h) => normalize(h.trim()))
      .filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) if (!this.trusts(hops[i])) return hops[i]!;
    return hops[0] ?? peer;
  }

  /** X-Forwarded-For and -Proto to send upstream. */
  resolve(req: IncomingMessage): { forwardedFor: string; proto: 'http' | 'https' } {
    const peer = normalize(req.socket.remoteAddress ?? '');
    if (!this.trusts(req.socket.remoteAddress)) return { forwardedFor: peer, proto: 'http' };
    const chain = single(req.headers['x-forwarded-for']);
    const proto = single(req.headers['x-forwarded-proto']);
    return {
      forwardedFor: chain ? `${chain}, ${peer}` : peer,
      proto: proto === 'https' ? 'https' : 'http',
    };
  }
}

function normalize(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
