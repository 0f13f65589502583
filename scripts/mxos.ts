/**
 * mxos: the operator CLI for the Matrix OS platform API. See `mxos help`.
 * Exit codes: 0 success, 1 API or operation failure, 2 usage error.
 */
import { parseCli, UsageError } from './cli/args.ts';
import { ApiError, ConnectionError, clientOptionsFromEnv, PlatformClient } from './cli/client.ts';
import { type Io, runCommand } from './cli/commands.ts';

const io: Io = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
};

async function main(argv: readonly string[]): Promise<number> {
  let args: ReturnType<typeof parseCli>;
  try {
    args = parseCli(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`mxos: ${err.message}\nRun "mxos help" for usage.`);
    return 2;
  }
  const options = clientOptionsFromEnv(process.env, process.cwd());
  try {
    new URL(options.baseUrl);
  } catch {
    io.err(`mxos: PLATFORM_URL is not a valid URL: "${options.baseUrl}" (e.g. http://127.0.0.1:9000).`);
    return 2;
  }
  try {
    return await runCommand(new PlatformClient(options), args, io);
  } catch (err) {
    if (err instanceof ApiError) {
      if (args.json) io.out(JSON.stringify({ error: { code: err.code, message: err.message } }, null, 2));
      io.err(`mxos: ${err.message} (${err.code}, HTTP ${err.status})`);
      return 1;
    }
    if (err instanceof ConnectionError) {
      io.err(`mxos: ${err.message}`);
      return 1;
    }
    io.err(`mxos: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`mxos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
