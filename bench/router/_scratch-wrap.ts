import fs from 'node:fs';
import { Session } from 'node:inspector';
const s = new Session();
s.connect();
s.post('Profiler.enable', () => s.post('Profiler.setSamplingInterval', { interval: 100 }, () => undefined));
setTimeout(() => s.post('Profiler.start'), Number(process.env.PROF_DELAY ?? 4000));
setTimeout(() => s.post('Profiler.stop', (err, { profile }) => { fs.writeFileSync('/tmp/rprof/router.cpuprofile', JSON.stringify(profile)); console.error('profile written'); }), Number(process.env.PROF_STOP ?? 12000));
await import('./platform-child.ts');
