/** Typed errors for tuning-method configuration and saved adapters. */

/** A method config value is missing, of the wrong type or out of range; `key` is its full path. */
export class ConfigError extends Error {
  /** Dotted path of the offending key, e.g. `train-lora.lora.r`. */
  key: string;
  /** Creates the error; the message starts with the key. */
  constructor(key: string, message: string) {
    super(`${key}: ${message}`);
    this.name = "ConfigError";
    this.key = key;
  }
}
