/** Pieces more than one stack declares the same way: a server closed but for SSH, and a remote-managed tunnel. */
import { DataCloudflareZeroTrustTunnelCloudflaredToken } from '@cdktf/provider-cloudflare/lib/data-cloudflare-zero-trust-tunnel-cloudflared-token/index.js';
import { ZeroTrustTunnelCloudflared } from '@cdktf/provider-cloudflare/lib/zero-trust-tunnel-cloudflared/index.js';
import { ZeroTrustTunnelCloudflaredConfigA } from '@cdktf/provider-cloudflare/lib/zero-trust-tunnel-cloudflared-config/index.js';
import type { Droplet } from '@cdktf/provider-digitalocean/lib/droplet/index.js';
import { Firewall } from '@cdktf/provider-digitalocean/lib/firewall/index.js';
import { Token } from 'cdktf';
import type { Construct } from 'constructs';
import { CONDUIT_DEFAULTS } from '../../jobs/conduit.ts';

export const OUTBOUND_ANYWHERE = ['0.0.0.0/0', '::/0'];

/** A cloud firewall that lets nothing in but SSH from `sshCidrs`: traffic arrives through the tunnel the server dials. */
export function closedFirewall(scope: Construct, name: string, droplet: Droplet, sshCidrs: string[]): Firewall {
  return new Firewall(scope, 'firewall', {
    name: `${name}-closed`,
    dropletIds: [Token.asNumber(droplet.id)],
    inboundRule: [{ protocol: 'tcp', portRange: '22', sourceAddresses: sshCidrs }],
    outboundRule: [
      { protocol: 'tcp', portRange: '1-65535', destinationAddresses: OUTBOUND_ANYWHERE },
      { protocol: 'udp', portRange: '1-65535', destinationAddresses: OUTBOUND_ANYWHERE },
      { protocol: 'icmp', destinationAddresses: OUTBOUND_ANYWHERE },
    ],
  });
}

/**
 * A remote-managed tunnel (its ingress lives in Cloudflare), with a final
 * `http_status:404` after `routes`; returns its id, CNAME target and connector token.
 */
export function remoteTunnel(
  scope: Construct,
  accountId: string,
  name: string,
  routes: Array<{ hostname: string; service: string }>,
): { id: string; target: string; token: string } {
  const tunnel = new ZeroTrustTunnelCloudflared(scope, 'tunnel', { accountId, name, configSrc: 'cloudflare' });
  new ZeroTrustTunnelCloudflaredConfigA(scope, 'tunnel-config', {
    accountId,
    tunnelId: tunnel.id,
    // Cloudflare requires a catch-all last: anything else is not ours.
    config: { ingress: [...routes, { service: 'http_status:404' }] },
  });
  const token = new DataCloudflareZeroTrustTunnelCloudflaredToken(scope, 'tunnel-token', { accountId, tunnelId: tunnel.id });
  return { id: tunnel.id, target: `${tunnel.id}.cfargotunnel.com`, token: token.token };
}

/**
 * Where cloudflared and the control service (host network) find Conduit (its static port on the host's loopback). `matrix.DOMAIN` is how
 * instances reach the homeserver: their fence lets them reach nothing else on the host
 * but the meter, and "matrix" is a reserved handle.
 */
export const MATRIX_ORIGIN = `http://127.0.0.1:${CONDUIT_DEFAULTS.port}`;
export const matrixHost = (domain: string) => `matrix.${domain}`;
