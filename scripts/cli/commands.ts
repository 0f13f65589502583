/** One function per command. Each returns the exit code; errors propagate to mxos.ts. */
import type { CliArgs } from './args.ts';
import { USAGE } from './args.ts';
import type { InstanceView, PlatformClient } from './client.ts';
import { followEvents, lastEventId, waitForStatus } from './follow.ts';
import { budgetLines, eventLine, healthLines, infoLines, instanceDetails, instanceTable, inviteTable, priceTable, usageLines } from './format.ts';

/** Where output goes: stdout for results, stderr for problems. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

interface Ctx {
  client: PlatformClient;
  args: CliArgs;
  io: Io;
}

const printJson = (io: Io, value: unknown) => io.out(JSON.stringify(value, null, 2));
const seconds = (ms: number) => (ms < 1000 ? `${ms}ms` : `${Math.round(ms / 1000)}s`);

/** Waits (unless --no-wait) for `instance` to reach `target`, printing progress; reports the result. */
async function settle(ctx: Ctx, instance: InstanceView, target: string, after: number, accepted: unknown): Promise<number> {
  const { client, args, io } = ctx;
  if (!args.wait) {
    if (args.json) printJson(io, accepted);
    else
      io.out(
        `${instance.handle} is ${instance.status}${instance.status === target ? '' : ` (on its way to ${target}; follow with: mxos events ${instance.handle} --follow)`}.`,
      );
    return 0;
  }
  let current = instance;
  let outcome = 'reached';
  if (instance.status !== target) {
    if (!args.json) io.out(`Waiting for ${instance.handle} to be ${target} (up to ${seconds(args.timeoutMs)})…`);
    const result = await waitForStatus(client, instance.handle, {
      target,
      after,
      timeoutMs: args.timeoutMs,
      onEvent: args.json ? undefined : (event) => io.out(eventLine(event)),
    });
    current = result.instance;
    outcome = result.outcome;
  }
  if (args.json) printJson(io, { instance: current });
  else io.out(`\n${current.handle} is ${current.status}.\n${instanceDetails(current)}`);
  switch (outcome) {
    case 'reached':
      return 0;
    case 'failed':
      io.err(`${current.handle} failed: ${current.lastError ?? 'no error was recorded'}`);
      return 1;
    case 'diverted':
      io.err(`${current.handle} ended up ${current.status}, not ${target}: another request changed it meanwhile.`);
      return 1;
    default:
      io.err(
        `Timed out after ${seconds(args.timeoutMs)} waiting for ${current.handle} to be ${target}; it is ${current.status}. ` +
          `Follow it with: mxos events ${current.handle} --follow`,
      );
      return 1;
  }
}

async function provision(ctx: Ctx): Promise<number> {
  const { client, args, io } = ctx;
  const after = args.wait ? await lastEventId(client, args.handle) : 0;
  // --user names someone who exists (email, handle or id); without it the handle is a new user's id.
  const response = await client.provision(args.handle, args.user === undefined ? { userId: args.handle } : { user: args.user });
  const { instance, created } = response;
  if (!args.json)
    io.out(
      created
        ? `Provisioning ${instance.handle} for user ${instance.owner}.`
        : `${instance.handle} already exists for user ${instance.owner} (${instance.status}).`,
    );
  return settle(ctx, instance, 'running', after, response);
}

async function startOrStop(ctx: Ctx, action: 'start' | 'stop'): Promise<number> {
  const { client, args, io } = ctx;
  const after = args.wait ? await lastEventId(client, args.handle) : 0;
  const response = await client.action(args.handle, action);
  if (!args.json)
    io.out(response.changed ? `${action === 'start' ? 'Starting' : 'Stopping'} ${args.handle}.` : `${args.handle} is already ${response.instance.status}.`);
  return settle(ctx, response.instance, action === 'start' ? 'running' : 'stopped', after, response);
}

async function destroy(ctx: Ctx): Promise<number> {
  const { client, args, io } = ctx;
  const after = args.wait ? await lastEventId(client, args.handle) : 0;
  const response = await client.destroy(args.handle, args.purge);
  if (!args.json) {
    io.out(
      response.changed
        ? `Destroying ${args.handle}; its data will be ${args.purge ? 'deleted' : 'archived'}.`
        : `${args.handle} is already ${response.instance.status}.`,
    );
  }
  return settle(ctx, response.instance, 'destroyed', after, response);
}

async function list(ctx: Ctx): Promise<number> {
  const response = await ctx.client.list({ status: ctx.args.status, limit: ctx.args.limit });
  if (ctx.args.json) printJson(ctx.io, response);
  else ctx.io.out(instanceTable(response.instances, response.total));
  return 0;
}

async function status(ctx: Ctx): Promise<number> {
  const response = await ctx.client.get(ctx.args.handle);
  if (ctx.args.json) printJson(ctx.io, response);
  else ctx.io.out(instanceDetails(response.instance));
  return 0;
}

async function events(ctx: Ctx): Promise<number> {
  const { client, args, io } = ctx;
  if (args.follow) {
    // Streams until Ctrl-C (or until the platform goes away).
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    try {
      for await (const event of followEvents(client, args.handle, 0, controller.signal)) {
        io.out(args.json ? JSON.stringify(event) : eventLine(event));
      }
    } finally {
      process.off('SIGINT', stop);
    }
    return 0;
  }
  const all = [];
  for (let after = 0; ; ) {
    const page = await client.events(args.handle, after);
    all.push(...page.events);
    if (page.events.length < 5000) break;
    after = page.events[page.events.length - 1]!.id;
  }
  if (args.json) printJson(io, { events: all });
  else io.out(all.length ? all.map(eventLine).join('\n') : `No events for ${args.handle}.`);
  return 0;
}

async function open(ctx: Ctx): Promise<number> {
  const link = await ctx.client.loginLink(ctx.args.handle, ctx.args.user);
  if (ctx.args.json) printJson(ctx.io, link);
  else ctx.io.out(`Open this link within a minute (it works once${link.access === 'admin' ? '; admin access is audited' : ''}):\n${link.url}`);
  return 0;
}

async function token(ctx: Ctx): Promise<number> {
  const rotated = await ctx.client.rotateToken(ctx.args.handle);
  if (ctx.args.json) printJson(ctx.io, rotated);
  else
    ctx.io.out(
      `New token for ${rotated.handle} (shown only now; earlier tokens and browser sessions no longer work):\n${rotated.token}\n\nUse it as: curl -H "Authorization: Bearer <token>" ${rotated.url}/api/system/info`,
    );
  return 0;
}

async function rotate(ctx: Ctx): Promise<number> {
  const done = await ctx.client.rotate(ctx.args.handle, ctx.args.credentials);
  if (ctx.args.json) printJson(ctx.io, done);
  else {
    const lines = [`Rotated for ${done.handle}: ${done.rotated.join(', ')}.`];
    if (done.token) lines.push(`New instance token (shown only now; earlier tokens and browser sessions no longer work):\n${done.token}`);
    if (done.rotated.includes('router')) {
      lines.push(
        done.redeploying
          ? 'The instance is restarting with its new router token and meter key.'
          : 'The instance gets its new router token and meter key at its next start.',
      );
    }
    ctx.io.out(lines.join('\n'));
  }
  return 0;
}

async function budget(ctx: Ctx): Promise<number> {
  const { client, args, io } = ctx;
  const changing = args.setBudget !== undefined || args.period !== undefined;
  const orDefault = (value: string | undefined) => (value === 'default' ? null : value);
  const answer = changing
    ? await client.setBudget(args.handle, { usd: orDefault(args.setBudget), period: orDefault(args.period) })
    : await client.budget(args.handle);
  if (args.json) printJson(io, answer);
  else io.out(budgetLines(answer.handle, answer.budget));
  return 0;
}

async function usage(ctx: Ctx): Promise<number> {
  const { client, args, io } = ctx;
  if (args.csv) {
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of await client.ledger()) text += decoder.decode(chunk, { stream: true });
    io.out((text + decoder.decode()).trimEnd());
    return 0;
  }
  const report = await client.usage(args.days);
  if (args.json) printJson(io, report);
  else io.out(usageLines(report));
  return 0;
}

async function prices(ctx: Ctx): Promise<number> {
  const answer = await ctx.client.prices();
  if (ctx.args.json) printJson(ctx.io, answer);
  else ctx.io.out(priceTable(answer.families));
  return 0;
}

async function price(ctx: Ctx): Promise<number> {
  const answer = await ctx.client.setPrice(ctx.args.handle, ctx.args.rates);
  if (ctx.args.json) printJson(ctx.io, answer);
  else ctx.io.out(`${answer.family} is priced (version ${answer.version}); calls to it are admitted from now on.`);
  return 0;
}

async function meterKey(ctx: Ctx): Promise<number> {
  const rotated = await ctx.client.rotateMeterKey(ctx.args.handle);
  if (ctx.args.json) printJson(ctx.io, rotated);
  else
    ctx.io.out(
      `New meter key for ${rotated.handle} (shown only now; the old one no longer works):\n${rotated.key}\n\n${
        rotated.redeploying ? 'The instance is restarting with it.' : 'The instance gets it at its next start.'
      }`,
    );
  return 0;
}

async function invites(ctx: Ctx): Promise<number> {
  const answer = await ctx.client.invites();
  if (ctx.args.json) printJson(ctx.io, answer);
  else ctx.io.out(inviteTable(answer.invites));
  return 0;
}

async function invite(ctx: Ctx): Promise<number> {
  const { uses, days, note, revoke } = ctx.args.invite;
  if (revoke) {
    const answer = await ctx.client.revokeInvite(revoke);
    if (ctx.args.json) printJson(ctx.io, answer);
    else ctx.io.out(`${answer.invite.id} is withdrawn; the ${answer.invite.uses} people who signed up with it keep their accounts.`);
    return 0;
  }
  const answer = await ctx.client.createInvite({
    ...(uses === undefined ? {} : { uses: Number(uses) }),
    ...(days === undefined ? {} : { expiresInDays: Number(days) }),
    ...(note === undefined ? {} : { note }),
  });
  if (ctx.args.json) printJson(ctx.io, answer);
  else
    ctx.io.out(
      `Invite ${answer.invite.id} (${answer.invite.maxUses} sign-up${answer.invite.maxUses === 1 ? '' : 's'}${
        answer.invite.expiresAt ? `, until ${answer.invite.expiresAt}` : ''
      }). The code is shown only now:\n${answer.code}\n\nSign-up link: ${answer.url}`,
    );
  return 0;
}

async function health(ctx: Ctx): Promise<number> {
  const report = await ctx.client.health();
  if (ctx.args.json) printJson(ctx.io, report);
  else ctx.io.out(healthLines(report));
  return report.status === 'ok' ? 0 : 1;
}

async function backup(ctx: Ctx): Promise<number> {
  const { path, manifest } = await ctx.client.backup();
  if (ctx.args.json) printJson(ctx.io, { path, manifest });
  else
    ctx.io.out(
      `Backup written on the platform's host: ${path}\n  database: ${manifest.dialect} (${manifest.database}), users' data: ${manifest.users.length}, ${(manifest.bytes / 1e6).toFixed(1)} MB\nRestore it with the control service stopped: mxos restore ${path} --yes`,
    );
  return 0;
}

/**
 * Offline: the backup goes back into DATA_DIR and DATABASE_URL as the control service
 * would read them from this environment, only while its API does not answer.
 */
async function restore(ctx: Ctx): Promise<number> {
  const running = await ctx.client.health().then(
    () => true,
    () => false,
  );
  if (running) {
    ctx.io.err(`mxos: the platform at ${ctx.client.baseUrl} is running: stop the control service (and its instances), then restore.`);
    return 1;
  }
  const { loadConfig } = await import('../../control/config.ts');
  const { restoreBackup } = await import('../../control/backup.ts');
  const { PlatformError } = await import('../../control/errors.ts');
  const config = loadConfig(process.env, process.cwd());
  let restored: Awaited<ReturnType<typeof restoreBackup>>;
  try {
    restored = await restoreBackup({ from: ctx.args.handle, dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  } catch (err) {
    if (!(err instanceof PlatformError)) throw err;
    ctx.io.err(`mxos: ${err.message}`);
    return 1;
  }
  const { manifest, previous } = restored;
  if (ctx.args.json) printJson(ctx.io, { restored: ctx.args.handle, manifest, previous });
  else
    ctx.io.out(
      `Restored the backup of ${manifest.createdAt} into ${config.dataDir} (${manifest.users.length} users' data).${previous ? `\nWhat it replaced is in ${previous}.` : ''}\nStart the platform: npm start`,
    );
  return 0;
}

async function info(ctx: Ctx): Promise<number> {
  const report = await ctx.client.info();
  if (ctx.args.json) printJson(ctx.io, report);
  else ctx.io.out(infoLines(report));
  return 0;
}

export async function runCommand(client: PlatformClient, args: CliArgs, io: Io): Promise<number> {
  const ctx: Ctx = { client, args, io };
  switch (args.command) {
    case 'provision':
      return provision(ctx);
    case 'list':
      return list(ctx);
    case 'status':
      return status(ctx);
    case 'start':
      return startOrStop(ctx, 'start');
    case 'stop':
      return startOrStop(ctx, 'stop');
    case 'destroy':
      return destroy(ctx);
    case 'events':
      return events(ctx);
    case 'open':
      return open(ctx);
    case 'token':
      return token(ctx);
    case 'rotate':
      return rotate(ctx);
    case 'budget':
      return budget(ctx);
    case 'usage':
      return usage(ctx);
    case 'prices':
      return prices(ctx);
    case 'price':
      return price(ctx);
    case 'meter-key':
      return meterKey(ctx);
    case 'invites':
      return invites(ctx);
    case 'invite':
      return invite(ctx);
    case 'backup':
      return backup(ctx);
    case 'restore':
      return restore(ctx);
    case 'health':
      return health(ctx);
    case 'info':
      return info(ctx);
    case 'help':
      io.out(USAGE.trimEnd());
      return 0;
  }
}
