/**
 * single: one person's always-reachable Matrix OS. One droplet with Docker (cloud-init),
 * the instance run through the Docker provider over SSH (image and container, its home on
 * a named volume), and a Cloudflare tunnel to DOMAIN: no inbound port but SSH. The
 * instance's bearer token is a sensitive Terraform variable; nothing is public without it.
 */

import { DataCloudflareZone } from '@cdktf/provider-cloudflare/lib/data-cloudflare-zone/index.js';
import { DnsRecord } from '@cdktf/provider-cloudflare/lib/dns-record/index.js';
import { CloudflareProvider } from '@cdktf/provider-cloudflare/lib/provider/index.js';
import { Droplet } from '@cdktf/provider-digitalocean/lib/droplet/index.js';
import { DigitaloceanProvider } from '@cdktf/provider-digitalocean/lib/provider/index.js';
import { SshKey } from '@cdktf/provider-digitalocean/lib/ssh-key/index.js';
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { DockerProvider } from '@cdktf/provider-docker/lib/provider/index.js';
import { Volume as DockerVolume } from '@cdktf/provider-docker/lib/volume/index.js';
import { TerraformOutput, TerraformStack, TerraformVariable } from 'cdktf';
import type { Construct } from 'constructs';
import type { Inputs } from '../inputs.ts';
import { closedFirewall, remoteTunnel } from './parts.ts';

/** The instance's gateway inside the container (and on the host's loopback, for the tunnel). */
export const SINGLE_GATEWAY_PORT = 4000;

const SINGLE_CLOUD_INIT = `#cloud-config
${JSON.stringify(
  {
    package_update: true,
    package_upgrade: true,
    packages: ['ca-certificates', 'curl', 'unattended-upgrades'],
    runcmd: [
      ['sh', '-c', 'curl -fsSL https://get.docker.com -o /tmp/get-docker.sh && sh /tmp/get-docker.sh'],
      ['systemctl', 'enable', '--now', 'docker'],
    ],
  },
  null,
  2,
)}
`;

export class SingleStack extends TerraformStack {
  constructor(
    scope: Construct,
    id: string,
    inputs: Pick<
      Inputs,
      'domain' | 'cloudflareAccountId' | 'region' | 'dropletSize' | 'sshPublicKey' | 'sshAllowedCidrs' | 'instanceImage' | 'cloudflaredImage'
    >,
  ) {
    super(scope, id);
    new DigitaloceanProvider(this, 'digitalocean', {});
    new CloudflareProvider(this, 'cloudflare', {});
    const authToken = new TerraformVariable(this, 'matrix_auth_token', {
      type: 'string',
      sensitive: true,
      nullable: false,
      description: 'The bearer token every request to the instance must carry (openssl rand -hex 32)',
    });
    const anthropicKey = new TerraformVariable(this, 'anthropic_api_key', {
      type: 'string',
      sensitive: true,
      default: '',
      description: 'ANTHROPIC_API_KEY for the instance',
    });

    const name = `matrixos-${inputs.domain.replaceAll('.', '-')}`;
    const key = new SshKey(this, 'ssh-key', { name: `${name}-owner`, publicKey: inputs.sshPublicKey });
    const droplet = new Droplet(this, 'server', {
      name,
      image: 'ubuntu-24-04-x64',
      region: inputs.region,
      size: inputs.dropletSize,
      sshKeys: [key.fingerprint],
      monitoring: true,
      userData: SINGLE_CLOUD_INIT,
      tags: ['matrixos-single'],
    });
    closedFirewall(this, name, droplet, inputs.sshAllowedCidrs);

    // The tunnel: only DOMAIN, to the instance's gateway on the server's loopback.
    const accountId = inputs.cloudflareAccountId;
    const zone = new DataCloudflareZone(this, 'zone', { filter: { name: inputs.domain } });
    const tunnel = remoteTunnel(this, accountId, name, [{ hostname: inputs.domain, service: `http://127.0.0.1:${SINGLE_GATEWAY_PORT}` }]);
    new DnsRecord(this, 'apex', { zoneId: zone.zoneId, name: inputs.domain, type: 'CNAME', content: tunnel.target, proxied: true, ttl: 1 });

    // Docker on the droplet, over SSH (the operator's agent holds the key).
    const docker = new DockerProvider(this, 'docker', { host: `ssh://root@${droplet.ipv4Address}:22` });
    const image = new Image(this, 'instance-image', { provider: docker, name: inputs.instanceImage, keepLocally: true });
    const home = new DockerVolume(this, 'home', { provider: docker, name: 'matrixos-home' });
    new Container(this, 'instance', {
      provider: docker,
      name: 'matrixos',
      image: image.imageId,
      restart: 'unless-stopped',
      // Published on the server's loopback only: the tunnel is the way in.
      ports: [{ internal: SINGLE_GATEWAY_PORT, external: SINGLE_GATEWAY_PORT, ip: '127.0.0.1' }],
      env: [
        `MATRIX_AUTH_TOKEN=${authToken.stringValue}`,
        `ANTHROPIC_API_KEY=${anthropicKey.stringValue}`,
        'MATRIX_DATA_DIR=/data',
        'NODE_ENV=production',
        `PUBLIC_URL=https://${inputs.domain}`,
      ],
      volumes: [{ volumeName: home.name, containerPath: '/data' }],
      // As the compose kit: a read-only root, no capabilities, no privilege gain.
      readOnly: true,
      tmpfs: { '/tmp': 'rw,noexec,nosuid,size=64m' },
      capabilities: { drop: ['ALL'] },
      securityOpts: ['no-new-privileges:true'],
      dependsOn: [droplet],
    });
    const cloudflaredImage = new Image(this, 'cloudflared-image', { provider: docker, name: inputs.cloudflaredImage, keepLocally: true });
    new Container(this, 'cloudflared', {
      provider: docker,
      name: 'cloudflared',
      image: cloudflaredImage.imageId,
      restart: 'unless-stopped',
      networkMode: 'host',
      command: ['tunnel', '--no-autoupdate', 'run'],
      env: [`TUNNEL_TOKEN=${tunnel.token}`],
    });
    new TerraformOutput(this, 'url', { value: `https://${inputs.domain}` });
    new TerraformOutput(this, 'ssh', { value: `ssh root@${droplet.ipv4Address}` });
  }
}
