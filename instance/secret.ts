/**
 * A credential held in memory. `reveal()` is the only way to read it; JSON,
 * util.inspect and string conversion all print a placeholder, so a config object
 * that ends up in a log line or a response cannot carry the token with it.
 */
import { inspect } from 'node:util';

const REDACTED = '[redacted]';

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
