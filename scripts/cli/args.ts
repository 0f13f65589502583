/** Command-line parsing with node:util parseArgs. Any mistake is a UsageError (exit 2). */
import { type ParseArgsConfig, parseArgs } from 'node:util';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const COMMANDS = [
  'provision',
  'list',
  'status',
  'start',
  'stop',
  'destroy',
  'events',
  'open',
  'token',
  'rotate',
  'budget',
  'usage',
  'prices',
  'price',
  'meter-key',
  'invites',
  'invite',
  'backup',
  'restore',
  'health',
  'info',
  'help',
] as const;
type CommandName = (typeof COMMANDS)[number];

export interface CliArgs {
  command: CommandName;
  /** Set for commands that take <handle>. */
  handle: string;
  json: boolean;
  wait: boolean;
  timeoutMs: number;
  user: string | undefined;
  status: string | undefined;
  limit: number | undefined;
  yes: boolean;
  purge: boolean;
  follow: boolean;
  rotate: boolean;
  /** rotate: which credentials (token, router, meter); all three with --all. */
  credentials: string[];
  /** budget --set: dollars, or "default". */
  setBudget: string | undefined;
  /** budget --period: none, daily, monthly or default. */
  period: string | undefined;
  /** usage: the last N days. */
  days: number;
  /** usage --csv: the whole ledger as CSV. */
  csv: boolean;
  /** price: the rates given, by API field name. */
  rates: Record<string, string>;
  /** invite: how many sign-ups the code admits, its lifetime in days, a note; or the id to revoke. */
  invite: { uses: string | undefined; days: string | undefined; note: string | undefined; revoke: string | undefined };
}

type Options = NonNullable<ParseArgsConfig['options']>;
const common: Options = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };
const waiting: Options = { 'no-wait': { type: 'boolean' }, timeout: { type: 'string' } };

/** price: option name -> the API's field. */
const RATE_OPTIONS = {
  input: 'input',
  'cache-write-5m': 'cacheWrite5m',
  'cache-write-1h': 'cacheWrite1h',
  'cache-read': 'cacheRead',
  output: 'output',
  'web-search': 'webSearchPerRequest',
} as const;

/** `positional`: what the one positional argument names, when the command takes one. */
const SPECS: Record<CommandName, { handle: boolean; positional?: string; options: Options }> = {
  provision: { handle: true, options: { ...waiting, user: { type: 'string' } } },
  list: { handle: false, options: { status: { type: 'string' }, limit: { type: 'string' } } },
  status: { handle: true, options: {} },
  start: { handle: true, options: waiting },
  stop: { handle: true, options: waiting },
  destroy: { handle: true, options: { ...waiting, yes: { type: 'boolean' }, purge: { type: 'boolean' } } },
  events: { handle: true, options: { follow: { type: 'boolean', short: 'f' } } },
  open: { handle: true, options: { user: { type: 'string' } } },
  token: { handle: true, options: { rotate: { type: 'boolean' } } },
  rotate: { handle: true, options: { all: { type: 'boolean' }, token: { type: 'boolean' }, router: { type: 'boolean' }, meter: { type: 'boolean' } } },
  budget: { handle: true, options: { set: { type: 'string' }, period: { type: 'string' } } },
  usage: { handle: false, options: { days: { type: 'string' }, csv: { type: 'boolean' } } },
  prices: { handle: false, options: {} },
  price: { handle: true, positional: 'family', options: Object.fromEntries(Object.keys(RATE_OPTIONS).map((name) => [name, { type: 'string' }])) as Options },
  'meter-key': { handle: true, options: { rotate: { type: 'boolean' } } },
  invites: { handle: false, options: {} },
  invite: { handle: false, options: { uses: { type: 'string' }, expires: { type: 'string' }, note: { type: 'string' }, revoke: { type: 'string' } } },
  backup: { handle: false, options: {} },
  restore: { handle: true, positional: 'backup-dir', options: { yes: { type: 'boolean' } } },
  health: { handle: false, options: {} },
  info: { handle: false, options: {} },
  help: { handle: false, options: {} },
};

const DEFAULT_TIMEOUT_MS = 120_000;

/** "120s", "2m", "500ms", "1h" or a bare number of seconds. */
function parseDuration(raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  const ms = match ? Number(match[1]) * unit[(match[2] ?? 's') as keyof typeof unit] : NaN;
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`--timeout must be a duration such as 120s, 2m or 500ms; got "${raw}"`);
  return Math.round(ms);
}

function isCommand(value: string): value is CommandName {
  return (COMMANDS as readonly string[]).includes(value);
}

export function parseCli(argv: readonly string[]): CliArgs {
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-h') return blank('help');
  if (first.startsWith('-')) throw new UsageError(`Expected a command before "${first}".`);
  if (!isCommand(first)) throw new UsageError(`Unknown command "${first}".`);
  const spec = SPECS[first];

  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv.slice(1)], options: { ...common, ...spec.options }, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    throw new UsageError(`${first}: ${(err as Error).message.replace(/\. To specify a positional.*$/s, '.')}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return blank('help');

  const args = blank(first);
  const wanted = spec.handle ? 1 : 0;
  if (positionals.length < wanted) throw new UsageError(`${first}: missing <${spec.positional ?? 'handle'}>.`);
  if (positionals.length > wanted) throw new UsageError(`${first}: unexpected argument "${positionals[wanted]}".`);
  args.handle = positionals[0] ?? '';

  const str = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  args.json = values.json === true;
  args.wait = values['no-wait'] !== true;
  args.yes = values.yes === true;
  args.purge = values.purge === true;
  args.follow = values.follow === true;
  args.rotate = values.rotate === true;
  args.user = str('user');
  args.status = str('status');
  const timeout = str('timeout');
  if (timeout !== undefined) args.timeoutMs = parseDuration(timeout);
  const limit = str('limit');
  if (limit !== undefined) {
    if (!/^\d+$/.test(limit) || Number(limit) < 1) throw new UsageError(`--limit must be a whole number of at least 1; got "${limit}"`);
    args.limit = Number(limit);
  }
  args.setBudget = str('set');
  args.period = str('period');
  args.csv = values.csv === true;
  const days = str('days');
  if (days !== undefined) {
    if (!/^\d+$/.test(days) || Number(days) < 1 || Number(days) > 366) throw new UsageError(`--days must be a whole number from 1 to 366; got "${days}"`);
    args.days = Number(days);
  }
  if (first === 'price') {
    for (const [option, field] of Object.entries(RATE_OPTIONS)) {
      const value = str(option);
      if (value !== undefined) args.rates[field] = value;
    }
    const missing = Object.keys(RATE_OPTIONS).filter((o) => o !== 'web-search' && str(o) === undefined);
    if (missing.length > 0)
      throw new UsageError(
        `price: give every rate in US dollars per million tokens; missing ${missing.map((m) => `--${m}`).join(', ')}. E.g. mxos price ${args.handle} --input 5 --cache-write-5m 6.25 --cache-write-1h 10 --cache-read 0.5 --output 25`,
      );
  }
  if (first === 'invite') {
    const expires = str('expires');
    if (expires !== undefined && !/^\d+d?$/.test(expires)) throw new UsageError(`invite: --expires takes days, like 7d or 7; got "${expires}"`);
    args.invite = { uses: str('uses'), days: expires?.replace(/d$/, ''), note: str('note'), revoke: str('revoke') };
  }
  if (first === 'meter-key' && !args.rotate) {
    throw new UsageError(
      `meter-key: the platform keeps no copy of meter keys, so it can only issue a new one. Re-run: mxos meter-key ${args.handle} --rotate (the old key stops working and the instance restarts with the new one).`,
    );
  }
  if (first === 'token' && !args.rotate) {
    throw new UsageError(
      `token: the platform keeps no copy of instance tokens, so it can only issue a new one. Re-run: mxos token ${args.handle} --rotate (the old token and browser sessions stop working).`,
    );
  }
  if (first === 'rotate') {
    args.credentials = values.all === true ? ['token', 'router', 'meter'] : ['token', 'router', 'meter'].filter((c) => values[c] === true);
    if (args.credentials.length === 0) {
      throw new UsageError(`rotate: say what to rotate: --all, or any of --token, --router, --meter. E.g. mxos rotate ${args.handle} --all`);
    }
  }
  if (first === 'restore' && !args.yes) {
    throw new UsageError(
      `Refusing to restore without --yes. Restoring replaces the platform's database and users' data with the backup's (what it replaces is kept under DATA_DIR/archive). Stop the control service first, then re-run: mxos restore ${args.handle} --yes`,
    );
  }
  if (first === 'destroy' && !args.yes) {
    throw new UsageError(
      `Refusing to destroy "${args.handle}" without --yes. Destroying stops the instance and ` +
        (args.purge ? 'DELETES its data for good (--purge).' : 'archives its data on the platform (add --purge to delete it instead).') +
        ` Re-run: mxos destroy ${args.handle} --yes${args.purge ? ' --purge' : ''}`,
    );
  }
  return args;
}

function blank(command: CommandName): CliArgs {
  return {
    command,
    handle: '',
    json: false,
    wait: true,
    timeoutMs: DEFAULT_TIMEOUT_MS,
    user: undefined,
    status: undefined,
    limit: undefined,
    yes: false,
    purge: false,
    follow: false,
    rotate: false,
    credentials: [],
    setBudget: undefined,
    period: undefined,
    days: 30,
    csv: false,
    rates: {},
    invite: { uses: undefined, days: undefined, note: undefined, revoke: undefined },
  };
}

export const USAGE = `mxos — operator CLI for the Matrix OS platform

Usage: mxos <command> [options]

Commands:
  provision <handle> [--user <email|handle|id>] [--no-wait] [--timeout 120s]
                           create an instance for a user who signed in (without --user: a new user
                           named like the handle) and wait until it runs
  list [--status <s>] [--limit N]
                           table of instances
  status <handle>          one instance in detail
  start <handle> [--no-wait] [--timeout 120s]
                           start a stopped instance and wait until it runs
  stop <handle> [--no-wait] [--timeout 120s]
                           stop an instance (its data is kept) and wait until it stopped
  destroy <handle> --yes [--purge] [--no-wait] [--timeout 120s]
                           destroy an instance: archives its data, or deletes it with --purge
  events <handle> [--follow]
                           the instance's progress log; --follow streams until Ctrl-C
  open <handle> [--user <email|handle|id>]
                           a one-time sign-in link to the instance (valid 1 minute); without --user
                           you open it as the operator (admin access, audited)
  token <handle> --rotate  issue a new instance token (shown once); the old one and browser sessions end
  rotate <handle> --all | [--token] [--router] [--meter]
                           rotate credentials: the instance token (shown once), and the router token and
                           meter key the instance holds (one generation for both; the instance restarts)
  budget <handle> [--set USD|default] [--period none|daily|monthly|default]
                           "Budget: $X.XX remaining" for a user; --set changes it (0 stops all calls)
  usage [--days 30] [--csv]
                           model spend per day, per model and top spenders; --csv prints the whole ledger
  prices                   the model prices in force (US dollars per million tokens)
  price <family> --input X --cache-write-5m X --cache-write-1h X --cache-read X --output X [--web-search X]
                           add or change a model's price (until then the model is refused)
  meter-key <handle> --rotate
                           issue a new meter key for the instance (shown once); the old one dies at once
                           and the instance restarts with the new one
  invites                  the invite codes (SIGNUP_MODE=invite): uses, expiry, state
  invite [--uses N] [--expires 7d] [--note text]
                           create an invite code (shown once) and its sign-up link; --uses defaults to 1
  invite --revoke <id>     withdraw an invite code (people who signed up with it keep their accounts)
  backup                   back up the database and users' data (on the platform's host, DATA_DIR/backups)
  restore <backup-dir> --yes
                           put a backup back, with the control service stopped (run where it runs, with its
                           DATA_DIR and DATABASE_URL); what it replaces is kept under DATA_DIR/archive
  health                   is the platform healthy (database, orchestrator)
  info                     version, mode, driver and instance counts
  help                     this text

Options:
  --json                   print the raw API JSON instead of human output
  -h, --help               this text

Environment:
  PLATFORM_URL             platform API base URL (default ${'http://127.0.0.1:9000'})
  PLATFORM_SECRET          bearer secret for the platform API; when unset, the CLI reads
                           platformSecret from $DATA_DIR/dev-secrets.json (development)
  DATA_DIR                 the control service's data dir (default .data, relative to cwd)

Exit codes: 0 success, 1 API or operation failure, 2 usage error.
`;
