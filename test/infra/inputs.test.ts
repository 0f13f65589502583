import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InfraInputError, readInputs } from '../../infra/inputs.ts';
import { buildApp } from '../../infra/main.ts';
import { ENV } from './_inputs.ts';

test('every missing input is named, with what it is', (t) => {
  const err = t.throws(() => readInputs({}, ['edge', 'host', 'services']), { instanceOf: InfraInputError });
  t.deepEqual(
    err.problems.map((p) => p.split(' ')[0]),
    ['DOMAIN', 'CLOUDFLARE_ACCOUNT_ID', 'SSH_PUBLIC_KEY', 'CONTROL_IMAGE', 'INSTANCE_IMAGE'],
  );
  t.regex(err.message, /CONTROL_IMAGE is required: the control service image with a pinned tag/);
});

test('a stack asks only for what it uses; bad values are named', (t) => {
  const single = readInputs({ DOMAIN: 'me.example.org', CLOUDFLARE_ACCOUNT_ID: 'a', SSH_PUBLIC_KEY: ENV.SSH_PUBLIC_KEY, INSTANCE_IMAGE: 'i:1' }, ['single']);
  t.is(single.dropletSize, 's-1vcpu-2gb');
  const err = t.throws(() => readInputs({ ...ENV, DOMAIN: 'not a domain', VOLUME_SIZE_GB: '2', SSH_PUBLIC_KEY: 'hello' }, ['host']), {
    instanceOf: InfraInputError,
  });
  t.is(err.problems.length, 3);
});

test('the app synthesizes the platform stacks, or the single-user one', (t) => {
  const outdir = `/tmp/mxos-synth-${process.pid}`;
  t.deepEqual(
    buildApp(ENV, outdir).node.children.map((c) => c.node.id),
    ['edge', 'host', 'services'],
  );
  t.deepEqual(
    buildApp({ ...ENV, MXOS_DEPLOYMENT: 'single' }, outdir).node.children.map((c) => c.node.id),
    ['single'],
  );
  t.throws(() => buildApp({ ...ENV, MXOS_DEPLOYMENT: 'cloud' }), { message: /MXOS_DEPLOYMENT must be platform or single/ });
});

test('npm run synth works offline: every stack written as Terraform JSON', (t) => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'mxos-synth-'));
  t.teardown(() => fs.rmSync(outdir, { recursive: true, force: true }));
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'infra/main.ts'], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { PATH: process.env.PATH, ...ENV, CDKTF_OUTDIR: outdir },
    encoding: 'utf8',
  });
  t.is(result.status, 0, result.stderr);
  for (const stack of ['edge', 'host', 'services']) {
    const file = path.join(outdir, 'stacks', stack, 'cdk.tf.json');
    t.true(fs.existsSync(file), stack);
    t.truthy((JSON.parse(fs.readFileSync(file, 'utf8')) as { terraform?: unknown }).terraform);
  }
  const missing = spawnSync(process.execPath, ['--import', 'tsx', 'infra/main.ts'], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { PATH: process.env.PATH, CDKTF_OUTDIR: outdir },
    encoding: 'utf8',
  });
  t.is(missing.status, 2);
  t.regex(missing.stderr, /DOMAIN is required/);
});
