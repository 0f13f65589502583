/**
 * host: the VPS. One DigitalOcean droplet (Nomad server and client, Docker), a block
 * volume for user data, the operator's SSH key, and a cloud firewall that lets nothing
 * in but SSH: traffic arrives through the tunnel, which the host dials out to.
 */
import { Droplet } from '@cdktf/provider-digitalocean/lib/droplet/index.js';
import { DigitaloceanProvider } from '@cdktf/provider-digitalocean/lib/provider/index.js';
import { SshKey } from '@cdktf/provider-digitalocean/lib/ssh-key/index.js';
import { Volume } from '@cdktf/provider-digitalocean/lib/volume/index.js';
import { VolumeAttachment } from '@cdktf/provider-digitalocean/lib/volume-attachment/index.js';
import { TerraformOutput, TerraformStack, Token } from 'cdktf';
import type { Construct } from 'constructs';
import { CONTROL_DEFAULTS } from '../../jobs/control.ts';
import { renderCloudInit } from '../cloud-init.ts';
import type { Inputs } from '../inputs.ts';
import { closedFirewall } from './parts.ts';

export class HostStack extends TerraformStack {
  readonly address: string;

  constructor(scope: Construct, id: string, inputs: Pick<Inputs, 'domain' | 'region' | 'dropletSize' | 'volumeSizeGb' | 'sshPublicKey' | 'sshAllowedCidrs'>) {
    super(scope, id);
    // The API token comes from DIGITALOCEAN_TOKEN at deploy time.
    new DigitaloceanProvider(this, 'digitalocean', {});
    const name = `matrixos-${inputs.domain.replaceAll('.', '-')}`;
    const key = new SshKey(this, 'ssh-key', { name: `${name}-operator`, publicKey: inputs.sshPublicKey });
    const volume = new Volume(this, 'data', {
      name: `${name}-data`,
      region: inputs.region,
      size: inputs.volumeSizeGb,
      initialFilesystemType: 'ext4',
      description: 'Matrix OS: user volumes and the control database',
    });
    const droplet = new Droplet(this, 'host', {
      name,
      image: 'ubuntu-24-04-x64',
      region: inputs.region,
      size: inputs.dropletSize,
      sshKeys: [key.fingerprint],
      monitoring: true,
      ipv6: true,
      userData: renderCloudInit({ volumeName: `${name}-data`, meterPort: CONTROL_DEFAULTS.meterPort }),
      tags: ['matrixos'],
    });
    new VolumeAttachment(this, 'data-attachment', { dropletId: Token.asNumber(droplet.id), volumeId: volume.id });
    closedFirewall(this, name, droplet, inputs.sshAllowedCidrs);
    this.address = droplet.ipv4Address;
    new TerraformOutput(this, 'host_ipv4', { value: droplet.ipv4Address });
    new TerraformOutput(this, 'ssh', { value: `ssh root@${droplet.ipv4Address}` });
    new TerraformOutput(this, 'nomad_tunnel', { value: `ssh -N -L 4646:127.0.0.1:4646 root@${droplet.ipv4Address}` });
  }
}
