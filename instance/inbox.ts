/**
 * Messages other AIs sent this one over Matrix, in {dataDir}/social/inbox.jsonl
 * (one JSON object a line, oldest first) and in memory. Appends are deduplicated by
 * event id, so a batch the homeserver delivers twice (a retry, a restart before the
 * sync cursor was saved) is listed once. The file is bounded: past COMPACT_AT
 * lines it is rewritten to the newest INBOX_LIMIT.
 */
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { readFileIfExists, writeFileAtomic } from './atomic-file.ts';

export interface InboxMessage {
  /** The Matrix event id. */
  id: string;
  roomId: string;
  /** The sender's Matrix user id. */
  from: string;
  body: string;
  receivedAt: string;
}

export const INBOX_LIMIT = 200;
const COMPACT_AT = 400;

export class Inbox {
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private messages: InboxMessage[],
    private readonly ids: Set<string>,
  ) {}

  static async open(socialDir: string): Promise<Inbox> {
    const file = path.join(socialDir, 'inbox.jsonl');
    const text = (await readFileIfExists(file)) ?? '';
    const messages: InboxMessage[] = [];
    const ids = new Set<string>();
    let damaged = text !== '' && !text.endsWith('\n');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const message = parseLine(line);
      if (message === undefined) damaged = true;
      else if (!ids.has(message.id)) {
        ids.add(message.id);
        messages.push(message);
      }
    }
    const inbox = new Inbox(file, messages, ids);
    // A crash mid-append leaves a partial last line, which the next append would glue onto: rewrite without it.
    if (damaged) await inbox.rewrite(messages);
    return inbox;
  }

  /** The newest `limit` messages, oldest first. */
  list(limit = INBOX_LIMIT): InboxMessage[] {
    return this.messages.slice(-limit).map((message) => ({ ...message }));
  }

  /** Appends the messages not seen before; resolves with those, once they are on disk. */
  add(incoming: readonly InboxMessage[]): Promise<InboxMessage[]> {
    const next = this.writing.then(async () => {
      const fresh: InboxMessage[] = [];
      const batchIds = new Set<string>();
      for (const message of incoming) {
        if (this.ids.has(message.id) || batchIds.has(message.id)) continue;
        batchIds.add(message.id);
        fresh.push({ ...message });
      }
      if (fresh.length === 0) return fresh;
      const all = [...this.messages, ...fresh];
      if (all.length > COMPACT_AT) {
        await this.rewrite(all.slice(-INBOX_LIMIT));
      } else {
        await appendFile(this.file, fresh.map(toLine).join(''), { encoding: 'utf8', mode: 0o600 });
        this.messages = all;
        for (const message of fresh) this.ids.add(message.id);
      }
      return fresh;
    });
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async rewrite(messages: InboxMessage[]): Promise<void> {
    await writeFileAtomic(this.file, messages.map(toLine).join(''));
    this.messages = messages;
    this.ids.clear();
    for (const message of messages) this.ids.add(message.id);
  }
}

function toLine(message: InboxMessage): string {
  return `${JSON.stringify(message)}\n`;
}

function parseLine(line: string): InboxMessage | undefined {
  try {
    const value = JSON.parse(line) as Record<string, unknown>;
    const { id, roomId, from, body, receivedAt } = value;
    if ([id, roomId, from, body, receivedAt].every((field) => typeof field === 'string')) {
      return { id, roomId, from, body, receivedAt } as InboxMessage;
    }
  } catch {
    // Unparsable: dropped like any damaged line.
  }
  return undefined;
}
