/**
 * The Anthropic double as the meter benchmark's upstream, in its own process so it
 * does not share a core's event loop with the meter or the load generator. Its request
 * and stream logs are emptied every second: the benchmark sends many thousands. It
 * answers at once or paced like a model, as the benchmark asks over IPC.
 */
import { startAnthropicDouble } from '../../test/doubles/anthropic/index.ts';

const double = await startAnthropicDouble();
setInterval(() => {
  (double.requests as unknown[]).length = 0;
  (double.streams as unknown[]).length = 0;
}, 1000).unref();
// "instant" or "paced" (as a model answers: a first-byte delay, then events spaced out).
process.on('message', (msg: { type: string }) => {
  const paced = msg.type === 'paced';
  double.latencyMs = paced ? Number(process.env.BENCH_PACE_LATENCY_MS) : 0;
  double.eventDelayMs = paced ? Number(process.env.BENCH_PACE_EVENT_DELAY_MS) : 0;
  process.send!({ type: msg.type, body: { latencyMs: double.latencyMs, eventDelayMs: double.eventDelayMs } });
});
process.send!({ type: 'ready', body: { url: double.url, apiKey: double.apiKey, pid: process.pid } });
process.on('SIGTERM', () => {
  void double.close().finally(() => process.exit(0));
});
