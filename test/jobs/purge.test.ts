import test from 'ava';
import { buildVolumePurgeJob, purgeJobId } from '../../jobs/purge.ts';
import { validateAgainstNomadSchema } from './nomad-schema.ts';

const base = { namespace: 'default', datacenters: ['*'] };

test('the purge job empties the docker volume of the handle, once', (t) => {
  const job = buildVolumePurgeJob('alice', { ...base, volume: { mode: 'docker-volume' } });
  t.is(job.ID, purgeJobId('alice'));
  t.is(job.ID, 'platform-purge-alice');
  t.is(job.Type, 'batch');
  const task = job.TaskGroups![0]!.Tasks![0]!;
  t.deepEqual(task.Config.mount, [{ type: 'volume', target: '/data', source: 'matrixos-alice', readonly: false }]);
  t.regex(String(task.Config.args?.[1]), /^rm -rf \/data\/\* \/data\/\.\[!\.\]\* \/data\/\.\.\?\*/);
  t.is(job.TaskGroups![0]!.RestartPolicy!.Mode, 'fail');
  t.deepEqual(validateAgainstNomadSchema(job, 'Job'), []);
});

test('in host mode the purge job mounts the host volume', (t) => {
  const job = buildVolumePurgeJob('bob', { ...base, volume: { mode: 'host' } });
  const group = job.TaskGroups![0]!;
  t.deepEqual(group.Volumes, { home: { Name: 'home', Type: 'host', Source: 'matrixos-bob', ReadOnly: false } });
  t.deepEqual(group.Tasks![0]!.VolumeMounts, [{ Volume: 'home', Destination: '/data', ReadOnly: false }]);
  t.deepEqual(validateAgainstNomadSchema(job, 'Job'), []);
});
