/**
 * edge: the way in. A remote-managed Cloudflare tunnel whose ingress sends the apex,
 * every {handle}.DOMAIN (and *.INSTANCE_DOMAIN when set) to the router on the host,
 * matrix.DOMAIN to the homeserver's client API (Conduit), and
 * everything else to a 404; proxied CNAMEs to the tunnel; the connector's token as an
 * output for the services stack. No inbound port is ever opened on the host.
 */
import { DataCloudflareZone } from '@cdktf/provider-cloudflare/lib/data-cloudflare-zone/index.js';
import { DnsRecord } from '@cdktf/provider-cloudflare/lib/dns-record/index.js';
import { CloudflareProvider } from '@cdktf/provider-cloudflare/lib/provider/index.js';
import { TerraformOutput, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import type { Inputs } from '../inputs.ts';
import { MATRIX_ORIGIN, matrixHost, remoteTunnel } from './parts.ts';

/** Where cloudflared (host network) finds the router: the control service's public listener. */
export const ROUTER_ORIGIN = 'http://127.0.0.1:8000';

export class EdgeStack extends TerraformStack {
  readonly tunnelToken: string;
  readonly tunnelId: string;

  constructor(scope: Construct, id: string, inputs: Pick<Inputs, 'domain' | 'instanceDomain' | 'cloudflareAccountId'>) {
    super(scope, id);
    // The API token comes from CLOUDFLARE_API_TOKEN at deploy time.
    new CloudflareProvider(this, 'cloudflare', {});
    const accountId = inputs.cloudflareAccountId;
    const zone = new DataCloudflareZone(this, 'zone', { filter: { name: inputs.domain } });
    const hostnames = [inputs.domain, `*.${inputs.domain}`, ...(inputs.instanceDomain ? [`*.${inputs.instanceDomain}`] : [])];
    const tunnel = remoteTunnel(this, accountId, `matrixos-${inputs.domain}`, [
      { hostname: inputs.domain, service: ROUTER_ORIGIN },
      // Before the wildcard: the first matching rule wins.
      { hostname: matrixHost(inputs.domain), service: MATRIX_ORIGIN },
      ...hostnames.slice(1).map((hostname) => ({ hostname, service: ROUTER_ORIGIN })),
    ]);
    const target = tunnel.target;
    const cname = (name: string, fullName: string, zoneId: string) =>
      new DnsRecord(this, name, { zoneId, name: fullName, type: 'CNAME', content: target, proxied: true, ttl: 1, comment: 'Matrix OS tunnel' });
    cname('apex', inputs.domain, zone.zoneId);
    cname('wildcard', `*.${inputs.domain}`, zone.zoneId);
    if (inputs.instanceDomain) {
      const instanceZone = new DataCloudflareZone(this, 'instance-zone', { filter: { name: inputs.instanceDomain } });
      cname('instance-wildcard', `*.${inputs.instanceDomain}`, instanceZone.zoneId);
    }
    this.tunnelToken = tunnel.token;
    this.tunnelId = tunnel.id;
    new TerraformOutput(this, 'site_url', { value: `https://${inputs.domain}` });
    new TerraformOutput(this, 'instance_url_pattern', { value: `https://{handle}.${inputs.instanceDomain ?? inputs.domain}` });
    new TerraformOutput(this, 'tunnel_id', { value: tunnel.id });
    new TerraformOutput(this, 'tunnel_token', { value: tunnel.token, sensitive: true });
  }
}
