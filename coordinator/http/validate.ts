/** Parses a request part with a shared schema; a mismatch is a 400 `validation_failed` naming every field. */
import type { z } from 'zod';
import { QgError, fieldErrors } from '../../shared/index.js';

export function validate<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const fields = fieldErrors(r.error.issues);
  const first = Object.entries(fields)[0]!;
  throw new QgError('validation_failed', `invalid ${what}: ${first[0]}: ${first[1]}`, fields);
}
